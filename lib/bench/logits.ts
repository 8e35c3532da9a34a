// Per-position quantities from float32 logit rows, computed in float64: the negative
// log-likelihood of a target, KL divergence between two models' next-token
// distributions, and the most likely token.

/** log Σ exp(row) over one row of `logits` (row-major, `vocab` wide). */
export function logSumExp(logits: Float32Array, row: number, vocab: number): number {
  const off = row * vocab;
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]!);
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[off + i]! - max);
  return max + Math.log(sum);
}

/** −log softmax(row)[target]. */
export function nll(logits: Float32Array, row: number, vocab: number, target: number): number {
  return logSumExp(logits, row, vocab) - logits[row * vocab + target]!;
}

export function argmax(logits: Float32Array, row: number, vocab: number): number {
  const off = row * vocab;
  let best = 0;
  for (let i = 1; i < vocab; i++) if (logits[off + i]! > logits[off + best]!) best = i;
  return best;
}

/** KL(P ‖ Q) = Σ p (log p − log q) with P = softmax(base row), Q = softmax(other row). */
export function klDivergence(base: Float32Array, other: Float32Array, row: number, vocab: number): number {
  const lp = logSumExp(base, row, vocab);
  const lq = logSumExp(other, row, vocab);
  const off = row * vocab;
  let kl = 0;
  for (let i = 0; i < vocab; i++) {
    const logP = base[off + i]! - lp;
    kl += Math.exp(logP) * (logP - (other[off + i]! - lq));
  }
  // Rounding can leave a tiny negative value for identical distributions.
  return Math.max(0, kl);
}

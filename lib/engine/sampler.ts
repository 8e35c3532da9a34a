// Next-token sampling from float32 logits on the host. Order: logit bias; repetition
// penalty (transformers' RepetitionPenaltyLogitsProcessor: positive logits divided,
// negative multiplied, over the recent tokens); presence and frequency penalties (OpenAI:
// minus presence once and frequency per occurrence, over the generated tokens);
// temperature (0 = greedy argmax); top-k, top-p and min-p on the probabilities; one draw
// from a seeded generator, so a seed reproduces a run exactly.
import { MlxkError } from '../io/errors.js';

export interface SamplingOptions {
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the smallest set of most likely tokens whose mass reaches top_p. 1 = off. */
  topP?: number;
  /** Keep the k most likely tokens. 0 = off. */
  topK?: number;
  /** Drop tokens less likely than min_p × the most likely one. 0 = off. */
  minP?: number;
  /** > 1 discourages repeating recent tokens. 1 = off. */
  repetitionPenalty?: number;
  /** How many recent tokens the penalty looks at. Default 64. */
  repetitionContext?: number;
  /** Subtracted once from the logit of every token generated so far. 0 = off. */
  presencePenalty?: number;
  /** Subtracted from a token's logit once per time it was generated. 0 = off. */
  frequencyPenalty?: number;
  /** token id → added to its logit. */
  logitBias?: Record<number, number>;
  /** Seed for the draws; a random one when absent. */
  seed?: number;
}

/** mulberry32: a small, fast 32-bit generator; enough for drawing tokens. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function check(name: string, v: number, ok: boolean, expected: string): void {
  if (!Number.isFinite(v) || !ok) throw new MlxkError(`${name} must be ${expected}, got ${v}`);
}

export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined) check('temperature', o.temperature, o.temperature >= 0, '≥ 0');
  if (o.topP !== undefined) check('top_p', o.topP, o.topP > 0 && o.topP <= 1, 'in (0, 1]');
  if (o.topK !== undefined) check('top_k', o.topK, Number.isInteger(o.topK) && o.topK >= 0, 'a non-negative integer');
  if (o.minP !== undefined) check('min_p', o.minP, o.minP >= 0 && o.minP <= 1, 'in [0, 1]');
  if (o.repetitionPenalty !== undefined) check('repetition_penalty', o.repetitionPenalty, o.repetitionPenalty > 0, '> 0');
  if (o.repetitionContext !== undefined) check('repetition context', o.repetitionContext, Number.isInteger(o.repetitionContext) && o.repetitionContext >= 0, 'a non-negative integer');
  if (o.presencePenalty !== undefined) check('presence_penalty', o.presencePenalty, Math.abs(o.presencePenalty) <= 2, 'in [-2, 2]');
  if (o.frequencyPenalty !== undefined) check('frequency_penalty', o.frequencyPenalty, Math.abs(o.frequencyPenalty) <= 2, 'in [-2, 2]');
  for (const [id, bias] of Object.entries(o.logitBias ?? {})) {
    if (!/^\d+$/.test(id)) throw new MlxkError(`logit_bias keys must be token ids, got "${id}"`);
    check(`logit_bias[${id}]`, bias, Math.abs(bias) <= 100, 'in [-100, 100]');
  }
  if (o.seed !== undefined) check('seed', o.seed, Number.isInteger(o.seed), 'an integer');
}

function argmax(v: Float32Array | Float64Array): number {
  let best = 0;
  let top = v[0]!;
  for (let i = 1; i < v.length; i++) {
    const x = v[i]!;
    if (x > top) {
      top = x;
      best = i;
    }
  }
  return best;
}

/** The tokens a draw can pick: ids ascending in `ids[0, count)`, with `sum` their probability mass summed in id order. */
interface Kept {
  count: number;
  sum: number;
}

export class Sampler {
  readonly seed: number;
  private readonly random: () => number;
  // Scratch reused from token to token (sized to the vocabulary on first use): probabilities,
  // the kept ids, and candidate probabilities to sort.
  private p = new Float64Array(0);
  private ids = new Int32Array(0);
  private values = new Float64Array(0);

  constructor(private readonly o: SamplingOptions = {}) {
    validateSampling(o);
    this.seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.random = seededRandom(this.seed);
  }

  get greedy(): boolean {
    return (this.o.temperature ?? 1) === 0;
  }

  /**
   * Logits after the bias, the repetition penalty over the last `repetitionContext` tokens
   * of `history` (prompt and generated), and presence/frequency penalties over `generated`.
   */
  penalized(logits: Float32Array, history: readonly number[] = [], generated: readonly number[] = []): Float32Array {
    const { logitBias, repetitionPenalty = 1, presencePenalty = 0, frequencyPenalty = 0 } = this.o;
    const bias = Object.entries(logitBias ?? {});
    if (bias.length === 0 && (repetitionPenalty === 1 || history.length === 0) && ((presencePenalty === 0 && frequencyPenalty === 0) || generated.length === 0)) return logits;
    const out = Float32Array.from(logits);
    for (const [id, b] of bias) if (Number(id) < out.length) out[Number(id)]! += b;
    if (repetitionPenalty !== 1) {
      for (const id of new Set(history.slice(-(this.o.repetitionContext ?? 64)))) {
        if (id >= 0 && id < out.length) out[id] = out[id]! > 0 ? out[id]! / repetitionPenalty : out[id]! * repetitionPenalty;
      }
    }
    if (presencePenalty !== 0 || frequencyPenalty !== 0) {
      const counts = new Map<number, number>();
      for (const id of generated) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const [id, n] of counts) if (id >= 0 && id < out.length) out[id]! -= presencePenalty + frequencyPenalty * n;
    }
    return out;
  }

  /**
   * The distribution a draw is made from (probabilities summing to 1, zeros for filtered
   * tokens). Not defined for greedy sampling.
   */
  distribution(logits: Float32Array, history: readonly number[] = [], generated: readonly number[] = []): Float64Array {
    if (this.greedy) throw new Error('greedy sampling has no distribution');
    const kept = this.filter(this.penalized(logits, history, generated));
    const out = new Float64Array(logits.length);
    for (let j = 0; j < kept.count; j++) out[this.ids[j]!] = this.p[this.ids[j]!]! / kept.sum;
    return out;
  }

  sample(logits: Float32Array, history: readonly number[] = [], generated: readonly number[] = []): number {
    const z = this.penalized(logits, history, generated);
    if (this.greedy) return argmax(z);
    const kept = this.filter(z);
    const { p, ids } = this;
    const u = this.random();
    let acc = 0;
    for (let j = 0; j < kept.count; j++) {
      acc += p[ids[j]!]! / kept.sum;
      if (u < acc) return ids[j]!;
    }
    return ids[kept.count - 1]!;
  }

  /**
   * Softmax at the temperature into `p`, then top-k, top-p and min-p: the surviving ids (every
   * token of non-zero probability when nothing filters) and their mass. Each probability is
   * computed as the plain definition computes it (exp over the whole vocabulary, divided by
   * the sum in id order), so a seed draws the same token as a dense, fully sorted pass would;
   * only the filters' candidates are ever sorted.
   */
  private filter(z: Float32Array): Kept {
    const n = z.length;
    if (this.p.length !== n) {
      this.p = new Float64Array(n);
      this.ids = new Int32Array(n);
      this.values = new Float64Array(n);
    }
    const { p, ids } = this;
    const temperature = this.o.temperature ?? 1;
    const max = z[argmax(z)]!;
    let total = 0;
    for (let i = 0; i < n; i++) total += p[i] = Math.exp((z[i]! - max) / temperature);
    let count = 0;
    for (let i = 0; i < n; i++) {
      p[i]! /= total;
      if (p[i]! > 0) ids[count++] = i;
    }
    const topK = this.o.topK ?? 0;
    if (topK > 0 && topK < n) count = this.rankedPrefix(count, topK, Infinity);
    const topP = this.o.topP ?? 1;
    if (topP < 1) count = this.rankedPrefix(count, Infinity, topP * this.mass(count));
    const minP = this.o.minP ?? 0;
    if (minP > 0) {
      let top = 0;
      for (let j = 0; j < count; j++) top = Math.max(top, p[ids[j]!]!);
      const cut = minP * top;
      let kept = 0;
      for (let j = 0; j < count; j++) if (p[ids[j]!]! >= cut) ids[kept++] = ids[j]!;
      count = kept;
    }
    return { count, sum: this.mass(count) };
  }

  /** Σ p over ids[0, count), in id order. */
  private mass(count: number): number {
    let sum = 0;
    for (let j = 0; j < count; j++) sum += this.p[this.ids[j]!]!;
    return sum;
  }

  /**
   * Narrows ids[0, count) to the shortest prefix by decreasing probability (ties: lower id first)
   * that holds `k` tokens or whose mass, summed in that order, reaches `target`; returns its size.
   * Only tokens above a falling threshold are sorted, so a peaked distribution over a large
   * vocabulary sorts a handful of values.
   */
  private rankedPrefix(count: number, k: number, target: number): number {
    const { p, ids, values } = this;
    let top = 0;
    for (let j = 0; j < count; j++) top = Math.max(top, p[ids[j]!]!);
    let threshold = top / 2;
    let m = 0;
    for (;;) {
      m = 0;
      let candMass = 0;
      for (let j = 0; j < count; j++) {
        const v = p[ids[j]!]!;
        if (v >= threshold) {
          values[m++] = v;
          candMass += v;
        }
      }
      if (threshold === 0 || m === count || (k !== Infinity ? m >= k : m > 0 && candMass >= target)) break;
      threshold = threshold > 1e-300 ? threshold / 16 : 0;
    }
    const sorted = values.subarray(0, m).sort();
    // Walk down from the largest; `cut` is the smallest value taken, `ties` how many of the
    // values equal to it are taken (they go to the lowest ids).
    let sum = 0;
    let taken = 0;
    for (let j = m - 1; j >= 0; j--) {
      sum += sorted[j]!;
      taken++;
      if (taken >= k || sum >= target) break;
    }
    const cut = sorted[m - taken]!;
    let ties = 0;
    for (let j = m - taken; j < m && sorted[j] === cut; j++) ties++;
    let kept = 0;
    for (let j = 0; j < count; j++) {
      const v = p[ids[j]!]!;
      if (v > cut || (v === cut && ties-- > 0)) ids[kept++] = ids[j]!;
    }
    return kept;
  }
}

export interface TokenLogprobs {
  /** Natural-log probability of the chosen token under the model's distribution (raw logits). */
  logprob: number;
  /** The `top` most likely tokens, best first. */
  top: { tokenId: number; logprob: number }[];
}

/** log-softmax of the model's logits at `id`, and the `top` most likely tokens. */
export function tokenLogprobs(logits: Float32Array, id: number, top: number): TokenLogprobs {
  const max = logits[argmax(logits)]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const best: number[] = [];
  if (top > 0) {
    for (let i = 0; i < logits.length; i++) {
      if (best.length === top && logits[i]! <= logits[best[top - 1]!]!) continue;
      let at = best.length < top ? best.length : top - 1;
      if (best.length < top) best.push(i);
      while (at > 0 && logits[best[at - 1]!]! < logits[i]!) {
        best[at] = best[at - 1]!;
        at--;
      }
      best[at] = i;
    }
  }
  return { logprob: logits[id]! - lse, top: best.map((t) => ({ tokenId: t, logprob: logits[t]! - lse })) };
}

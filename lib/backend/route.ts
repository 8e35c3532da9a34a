// Expert routing on the host, from router logits copied out as float32. Shared by
// backends that run the experts from host-side indices. The rules are transformers'
// DeepseekV3TopkRouter (noaux_tc) and Qwen3MoeSparseMoeBlock (softmax top-k); see
// ../shared/reference/kimi.md §3.4.
import type { NoAuxRouteOptions, Route } from './ops.js';

/** Indices of the k largest values of v[start..start+n) (ties: lower index first), largest first. */
function topIndices(v: Float64Array | Float32Array, start: number, n: number, k: number, allowed?: Uint8Array): number[] {
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (!allowed || allowed[i]) idx.push(i);
  idx.sort((a, b) => v[start + b]! - v[start + a]! || a - b);
  return idx.slice(0, k);
}

export function routeNoAuxTcHost(logits: Float32Array, tokens: number, bias: Float32Array, o: NoAuxRouteOptions): Route {
  const experts = bias.length;
  if (logits.length !== tokens * experts) throw new Error(`router logits hold ${logits.length} values, expected ${tokens}×${experts}`);
  if (experts % o.nGroup !== 0) throw new Error(`${experts} experts do not split into ${o.nGroup} groups`);
  const perGroup = experts / o.nGroup;
  const indices = new Int32Array(tokens * o.topK);
  const weights = new Float32Array(tokens * o.topK);
  const scores = new Float32Array(experts);
  const choice = new Float32Array(experts);
  const groupScore = new Float32Array(o.nGroup);
  for (let t = 0; t < tokens; t++) {
    for (let e = 0; e < experts; e++) {
      scores[e] = 1 / (1 + Math.exp(-logits[t * experts + e]!));
      choice[e] = scores[e]! + bias[e]!;
    }
    const allowed = new Uint8Array(experts).fill(1);
    if (o.nGroup > 1) {
      for (let g = 0; g < o.nGroup; g++) {
        const best = topIndices(choice, g * perGroup, perGroup, 2);
        groupScore[g] = best.reduce((a, i) => a + choice[g * perGroup + i]!, 0);
      }
      allowed.fill(0);
      for (const g of topIndices(groupScore, 0, o.nGroup, o.topkGroup)) allowed.fill(1, g * perGroup, (g + 1) * perGroup);
    }
    const chosen = topIndices(choice, 0, experts, o.topK, allowed);
    let sum = 0;
    for (const e of chosen) sum += scores[e]!;
    const denom = o.normTopkProb ? sum + 1e-20 : 1;
    chosen.forEach((e, j) => {
      indices[t * o.topK + j] = e;
      weights[t * o.topK + j] = (scores[e]! / denom) * o.routedScalingFactor;
    });
  }
  return { tokens, k: o.topK, indices, weights };
}

export function routeSoftmaxTopKHost(logits: Float32Array, tokens: number, experts: number, topK: number, norm: boolean): Route {
  if (logits.length !== tokens * experts) throw new Error(`router logits hold ${logits.length} values, expected ${tokens}×${experts}`);
  const indices = new Int32Array(tokens * topK);
  const weights = new Float32Array(tokens * topK);
  const probs = new Float64Array(experts);
  for (let t = 0; t < tokens; t++) {
    let max = -Infinity;
    for (let e = 0; e < experts; e++) max = Math.max(max, logits[t * experts + e]!);
    let total = 0;
    for (let e = 0; e < experts; e++) total += probs[e] = Math.exp(logits[t * experts + e]! - max);
    for (let e = 0; e < experts; e++) probs[e]! /= total;
    const chosen = topIndices(probs, 0, experts, topK);
    const sum = chosen.reduce((a, e) => a + probs[e]!, 0);
    chosen.forEach((e, j) => {
      indices[t * topK + j] = e;
      weights[t * topK + j] = norm ? probs[e]! / sum : probs[e]!;
    });
  }
  return { tokens, k: topK, indices, weights };
}

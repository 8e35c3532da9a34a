// Mixture-of-experts on the mlx backend, two ways (benchmarks/mlx-moe.ts measures them):
// - few (token, expert) pairs, as in decoding: one gathered matmul per projection
//   (blockSparseMM / blockSparseQMM pick each row's expert), ~2× faster than running the
//   experts one by one;
// - many pairs (prefill): tokens grouped by expert on the host (the route is host data
//   already), each chosen expert run once over its rows — dense, or dequantized + BLAS —
//   and the results put back in token order.
import type { core } from '@frost-beta/mlx';
import type { ExpertWeights, Route } from '../ops.js';
import { kernelSupports } from './affine.js';
import { matmulT, type MlxWeight, subWeight } from './weights.js';

type Mx = typeof core;
type MxArray = core.array;

/** MLX's block_sparse_qmm (later gather_qmm): exported by the 0.0.7 binding, missing from its typings. */
type BlockSparseQMM = (x: MxArray, w: MxArray, scales: MxArray, biases: MxArray, lhsIndices: MxArray | null, rhsIndices: MxArray | null, transpose: boolean, groupSize: number, bits: number) => MxArray;

/** Most (token, expert) pairs that take the gathered path. */
export const GATHER_MAX_PAIRS = 16;

export interface MlxExperts {
  gate: MlxWeight;
  up: MlxWeight;
  down: MlxWeight;
}

export function asMlxExperts(e: ExpertWeights): MlxExperts {
  return e as unknown as MlxExperts;
}

function gatherable(w: MlxWeight): boolean {
  return w.kind === 'dense' || kernelSupports(w.bits, w.groupSize);
}

export function moeForward(mx: Mx, x: MxArray, route: Route, experts: MlxExperts, gatherMaxPairs = GATHER_MAX_PAIRS): MxArray {
  const pairs = route.tokens * route.k;
  const gather = pairs <= gatherMaxPairs && [experts.gate, experts.up, experts.down].every(gatherable);
  const perSlot = gather ? gathered(mx, x, route, experts) : grouped(mx, x, route, experts);
  const w = mx.array(Array.from(route.weights), mx.float32).reshape([route.tokens, route.k, 1]);
  return mx.sum(mx.multiply(perSlot, w), 1);
}

/** [T, k, hidden]: row (t, j) through expert indices[t·k + j], one gathered product per projection. */
function gathered(mx: Mx, x: MxArray, route: Route, experts: MlxExperts): MxArray {
  const { tokens, k } = route;
  const hidden = x.shape[1]!;
  const rhs = mx.array(Array.from(route.indices), mx.uint32);
  const rows = mx.broadcastTo(x.reshape([tokens, 1, 1, hidden]), [tokens, k, 1, hidden]).reshape([tokens * k, 1, hidden]);
  const qmm = (mx as unknown as { blockSparseQMM: BlockSparseQMM }).blockSparseQMM;
  const mm = (a: MxArray, w: MlxWeight) =>
    w.kind === 'dense'
      ? mx.blockSparseMM(a, mx.swapaxes(w.w, -1, -2), null as unknown as MxArray, rhs)
      : qmm(a, w.w, w.scales, w.biases, null, rhs, true, w.groupSize, w.bits);
  const g = mm(rows, experts.gate);
  const h = mx.multiply(mx.multiply(g, mx.sigmoid(g)), mm(rows, experts.up));
  return mm(h, experts.down).reshape([tokens, k, -1]);
}

/** [T, k, hidden] by running each chosen expert once over the rows routed to it. */
function grouped(mx: Mx, x: MxArray, route: Route, experts: MlxExperts): MxArray {
  const { tokens, k } = route;
  const pairs = tokens * k;
  const order = Array.from({ length: pairs }, (_, p) => p).sort((a, b) => route.indices[a]! - route.indices[b]! || a - b);
  const xs = mx.take(x, mx.array(order.map((p) => Math.floor(p / k)), mx.int32), 0);
  const outputs: MxArray[] = [];
  for (let start = 0; start < pairs; ) {
    const e = route.indices[order[start]!]!;
    let end = start;
    while (end < pairs && route.indices[order[end]!] === e) end++;
    const rows = xs.index(mx.Slice(start, end));
    const g = matmulT(mx, rows, subWeight(mx, experts.gate, e));
    const u = mx.multiply(mx.multiply(g, mx.sigmoid(g)), matmulT(mx, rows, subWeight(mx, experts.up, e)));
    outputs.push(matmulT(mx, u, subWeight(mx, experts.down, e)));
    start = end;
  }
  const sorted = outputs.length === 1 ? outputs[0]! : mx.concatenate(outputs, 0);
  const back = new Array<number>(pairs);
  order.forEach((p, i) => (back[p] = i));
  return mx.take(sorted, mx.array(back, mx.int32), 0).reshape([tokens, k, -1]);
}

/** Row p = x[rows[p]] · W[slices[p]]ᵀ: pairs grouped by slice on the host, each slice run once. */
export function gatherLinear(mx: Mx, x: MxArray, w: MlxWeight, rows: Int32Array, slices: Int32Array): MxArray {
  const P = rows.length;
  if (P === 0) return mx.zeros([0, w.shape[1]!], mx.float32);
  const order = Array.from({ length: P }, (_, p) => p).sort((a, b) => slices[a]! - slices[b]! || a - b);
  const xs = mx.take(x, mx.array(order.map((p) => rows[p]!), mx.int32), 0);
  const outputs: MxArray[] = [];
  for (let start = 0; start < P; ) {
    const e = slices[order[start]!]!;
    let end = start;
    while (end < P && slices[order[end]!] === e) end++;
    outputs.push(matmulT(mx, xs.index(mx.Slice(start, end)), subWeight(mx, w, e)));
    start = end;
  }
  const sorted = outputs.length === 1 ? outputs[0]! : mx.concatenate(outputs, 0);
  const back = new Array<number>(P);
  order.forEach((p, i) => (back[p] = i));
  return mx.take(sorted, mx.array(back, mx.int32), 0);
}

// Mixture-of-experts on the mlx backend. node-mlx 0.0.7 has no gather_qmm, so
// tokens are grouped by expert on the host (the route is host data already):
// each chosen expert runs once over the rows routed to it, dense or quantized,
// and the results are put back in token order and summed with the route weights.
import type { core } from '@frost-beta/mlx';
import type { ExpertWeights, Route } from '../ops.js';
import { matmulT, type MlxWeight, subWeight } from './weights.js';

type Mx = typeof core;
type MxArray = core.array;

export interface MlxExperts {
  gate: MlxWeight;
  up: MlxWeight;
  down: MlxWeight;
}

export function asMlxExperts(e: ExpertWeights): MlxExperts {
  return e as unknown as MlxExperts;
}

export function moeForward(mx: Mx, x: MxArray, route: Route, experts: MlxExperts): MxArray {
  const { tokens, k } = route;
  const pairs = tokens * k;
  const order = Array.from({ length: pairs }, (_, p) => p).sort((a, b) => route.indices[a]! - route.indices[b]! || a - b);
  const rowTokens = order.map((p) => Math.floor(p / k));
  const xs = mx.take(x, mx.array(rowTokens, mx.int32), 0);
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
  const perSlot = mx.take(sorted, mx.array(back, mx.int32), 0).reshape([tokens, k, -1]);
  const w = mx.array(Array.from(route.weights), mx.float32).reshape([tokens, k, 1]);
  return mx.sum(mx.multiply(perSlot, w), 1);
}

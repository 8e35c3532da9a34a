// A Proxy around Ops that reports what enters the weight-bearing calls, so calibration code
// sees each projection's inputs while a model's own forward pass runs unchanged: the
// attention Hessians of the GPTQ pass (sequentialDeepseek.ts) and the imatrix (imatrix.ts).
import type { ExpertWeights, Ops, Route, Tensor, Weight } from '../backend/ops.js';

export interface OpsTap {
  /** x [..., in] is about to go through w. */
  linear?(x: Tensor, w: Weight): void;
  /** x went through the per-head weight w (Ops.perHeadLinear) and gave y. */
  perHeadLinear?(x: Tensor, w: Weight, transpose: boolean, y: Tensor): void;
  /** q, k, v are about to be attended. */
  attention?(q: Tensor, k: Tensor, v: Tensor, scale: number): void;
  /** Computes moe in its place (to see the experts' hidden states). */
  moe?(x: Tensor, route: Route, experts: ExpertWeights): Tensor;
}

export function tapOps(ops: Ops, tap: OpsTap): Ops {
  return new Proxy(ops, {
    get: (target, prop, recv) => {
      if (prop === 'linear' && tap.linear) {
        return (x: Tensor, w: Weight, bias?: Weight) => {
          tap.linear!(x, w);
          return target.linear(x, w, bias);
        };
      }
      if (prop === 'perHeadLinear' && tap.perHeadLinear) {
        return (x: Tensor, w: Weight, transpose: boolean) => {
          const y = target.perHeadLinear(x, w, transpose);
          tap.perHeadLinear!(x, w, transpose, y);
          return y;
        };
      }
      if (prop === 'attention' && tap.attention) {
        return (q: Tensor, k: Tensor, v: Tensor, scale: number) => {
          tap.attention!(q, k, v, scale);
          return target.attention(q, k, v, scale);
        };
      }
      if (prop === 'moe' && tap.moe) return tap.moe;
      // A fused layer would run the products out of the tap's sight: models fall back to the composed ops.
      if (prop === 'mlaLayers') return undefined;
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

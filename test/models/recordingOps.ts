// A backend that records the expert choices the model computes (noaux_tc and softmax top-k),
// to compare them with transformers' choices or replay them on another backend.
import type { NoAuxRouteOptions, Ops, Route, Tensor, Weight } from '../../lib/backend/ops.js';

// A mixin base must take (...args: any[]): TypeScript requires that signature.
export function recording<B extends new (...args: any[]) => Ops>(Base: B) {
  return class extends Base {
    routes: Route[] = [];
    /** Op by op: a fused layer routes inside its backend call. */
    override mlaLayers = undefined;

    override routeNoAuxTc(logits: Tensor, bias: Weight, opts: NoAuxRouteOptions): Route {
      const r = super.routeNoAuxTc(logits, bias, opts);
      this.routes.push(r);
      return r;
    }

    override routeSoftmaxTopK(logits: Tensor, topK: number, norm: boolean): Route {
      const r = super.routeSoftmaxTopK(logits, topK, norm);
      this.routes.push(r);
      return r;
    }
  };
}

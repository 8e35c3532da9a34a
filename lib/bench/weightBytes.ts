// The weight bytes one decode step reads, from a checkpoint's tensor table: what turns
// tokens/s into a share of the memory bandwidth (issue 14's decode goal).
import { Checkpoint } from '../io/checkpoint.js';

export interface WeightBytes {
  /** Everything a step reads whatever the routing: all but the routed experts and the embedding (one row per token). */
  fixed: number;
  /** One routed expert of one layer (gate, up and down). */
  perExpert: number;
  /** Experts each MoE layer's token picks. */
  topK: number;
  /** Layers with routed experts. */
  moeLayers: number;
  /** Every tensor's bytes. */
  total: number;
}

export function weightBytes(path: string): WeightBytes {
  const ck = Checkpoint.open(path);
  const cfg = ck.config;
  let fixed = 0;
  let routed = 0;
  let total = 0;
  const moeLayers = new Set<string>();
  for (const [name, info] of ck.tensors) {
    const bytes = info.end - info.start;
    total += bytes;
    // Routed experts stacked (MLX: switch_mlp) or one tensor each (Hugging Face: mlp.experts.N).
    const at = name.includes('.switch_mlp.') ? name.indexOf('.switch_mlp.') : name.search(/\.mlp\.experts\.\d+\./);
    if (at >= 0) {
      routed += bytes;
      moeLayers.add(name.slice(0, at));
    } else if (!name.includes('embed_tokens.')) fixed += bytes;
  }
  ck.close();
  const experts = Number(cfg.n_routed_experts ?? 1);
  return { fixed, perExpert: routed / Math.max(1, moeLayers.size * experts), topK: Number(cfg.num_experts_per_tok ?? 0), moeLayers: moeLayers.size, total };
}

/** Bytes one decoded token reads alone (batch of one): the fixed part and top-k experts per MoE layer. */
export function bytesPerToken(w: WeightBytes): number {
  return w.fixed + w.moeLayers * w.topK * w.perExpert;
}

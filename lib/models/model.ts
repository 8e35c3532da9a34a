// What an architecture's forward pass offers the engine: a causal language model
// over the ops interface, stepping through tokens with an explicit cache.
import type { Ops, Tensor, Weight } from '../backend/ops.js';
import type { KvCache } from '../engine/kvCache.js';

export interface ModelInfo {
  arch: string;
  modelType: string;
  vocabSize: number;
  numLayers: number;
  /** Longest context the config declares (max_position_embeddings). */
  maxContext: number;
}

export interface ForwardOptions {
  /** Logits for every position ([T, vocab]) instead of only the last ([1, vocab]). */
  allLogits?: boolean;
}

export interface CausalLM {
  readonly info: ModelInfo;
  readonly ops: Ops;
  newCache(): KvCache;
  /**
   * Runs `ids` at positions cache.length … cache.length + T − 1, appending them to the
   * cache, and returns float32 logits (lazy on lazy backends; read them with ops.read).
   */
  forward(ids: readonly number[], cache: KvCache, opts?: ForwardOptions): Tensor;
}

/** The loaded weights of one model, by MLX tensor name. */
export class ModelWeights {
  constructor(private readonly map: Map<string, Weight>) {}

  get(name: string): Weight {
    const w = this.map.get(name);
    if (!w) throw new Error(`weight "${name}" was not loaded (the tensor table and the forward pass disagree)`);
    return w;
  }

  opt(name: string): Weight | undefined {
    return this.map.get(name);
  }

  get size(): number {
    return this.map.size;
  }

  entries(): IterableIterator<[string, Weight]> {
    return this.map.entries();
  }

  all(): Weight[] {
    return [...this.map.values()];
  }
}

/** Gate/up/down SwiGLU MLP under `prefix` (dense or shared expert). */
export function swigluMlp(ops: Ops, w: ModelWeights, prefix: string, x: Tensor): Tensor {
  const bias = (p: string) => w.opt(`${prefix}.${p}.bias`);
  const gate = ops.linear(x, w.get(`${prefix}.gate_proj.weight`), bias('gate_proj'));
  const up = ops.linear(x, w.get(`${prefix}.up_proj.weight`), bias('up_proj'));
  return ops.linear(ops.swiglu(gate, up), w.get(`${prefix}.down_proj.weight`), bias('down_proj'));
}

/** Final norm and head; only the last position unless all logits are asked for. */
export function lmHead(ops: Ops, w: ModelWeights, prefix: string, x: Tensor, eps: number, allLogits: boolean): Tensor {
  const T = ops.shape(x)[0]!;
  const last = allLogits ? x : ops.slice(x, 0, T - 1, T);
  const h = ops.rmsNorm(last, w.get(`${prefix}model.norm.weight`), eps);
  return ops.linear(h, w.opt(`${prefix}lm_head.weight`) ?? w.get(`${prefix}model.embed_tokens.weight`));
}

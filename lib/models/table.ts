// The tensor table: what an architecture's MLX-format checkpoint contains,
// derived from config.json alone, and where each tensor comes from in a
// Hugging Face checkpoint. One source of truth for the planner, the converter,
// the loader and random test-model generation.
import type { DType } from '../io/dtype.js';

/** What a tensor does; preset rules can select by role as well as by path. */
export type Role = 'embed' | 'lm_head' | 'norm' | 'attn' | 'dense_mlp' | 'expert' | 'shared_expert' | 'router' | 'vision';

export const ROLES: readonly Role[] = ['embed', 'lm_head', 'norm', 'attn', 'dense_mlp', 'expert', 'shared_expert', 'router', 'vision'];

/**
 * Module kinds, after mlx-lm's module classes: which ones have a `to_quantized`
 * (linear, embedding, switch_linear, multi_linear) decides what may be quantized.
 */
export type Kind = 'linear' | 'embedding' | 'switch_linear' | 'multi_linear' | 'norm' | 'param' | 'bias' | 'conv';

export const QUANTIZABLE_KINDS: ReadonlySet<Kind> = new Set(['linear', 'embedding', 'switch_linear', 'multi_linear']);

/** Where a tensor's values come from in the source (Hugging Face) checkpoint. */
export type Source =
  /** one source tensor of the same shape */
  | { kind: 'tensor'; name: string }
  /** per-expert tensors stacked on a new leading axis (mlx-lm sanitize: switch_mlp) */
  | { kind: 'stack'; names: string[] }
  /**
   * MLA kv_b_proj [H·(nope+v), rank] split per head into embed_q = W_k^T [H, rank, nope]
   * and unembed_out = W_v [H, v, rank] (mlx_lm/models/deepseek_v3.py sanitize).
   */
  | { kind: 'kv_b'; name: string; part: 'embed_q' | 'unembed_out'; heads: number; nope: number; v: number; rank: number };

export interface TensorEntry {
  /** Output (MLX) tensor name, e.g. model.layers.3.mlp.switch_mlp.down_proj.weight */
  name: string;
  /** Module path, the quantization unit and the key of per-module config overrides. */
  module: string;
  kind: Kind;
  role: Role;
  layer: number | null;
  /** Logical (unquantized) shape; quantization runs along the last axis. */
  shape: number[];
  source: Source;
  /** dtype kept regardless of the model dtype (mlx-lm's cast_predicate: e_score_correction_bias stays F32). */
  keepDtype?: DType;
}

export interface ModelTable {
  /** Architecture implementation that produced the table (deepseek_v3, llama, …). */
  arch: string;
  /** config.json model_type as given. */
  modelType: string;
  numLayers: number;
  /** Float dtype of unquantized tensors and of scales/biases (from torch_dtype / dtype). */
  dtype: 'BF16' | 'F16' | 'F32';
  entries: TensorEntry[];
  /** Source tensors that are expected and deliberately not converted (MTP layers, rotary caches). */
  dropsSource: (name: string) => boolean;
  /** MLA latent cache or K/V cache size per token, in elements per layer (for planning). */
  kvElementsPerTokenPerLayer: number;
  /** Maximum context length the config declares. */
  maxContext: number;
}

export function params(e: TensorEntry): number {
  return e.shape.reduce((a, b) => a * b, 1);
}

/** Helper for architectures: one entry whose source tensor has the same name. */
export function same(name: string, kind: Kind, role: Role, layer: number | null, shape: number[], keepDtype?: DType): TensorEntry {
  const module = name.replace(/\.(weight|bias|e_score_correction_bias)$/, '');
  return { name, module, kind, role, layer, shape, source: { kind: 'tensor', name }, ...(keepDtype ? { keepDtype } : {}) };
}

// Llama / Mistral (model_type llama, mistral): grouped-query attention with
// optional projection biases, SwiGLU MLP, optional tied embeddings. The helpers
// here are shared with qwen3 and qwen3_moe, which use the same layout
// (transformers models/llama/modeling_llama.py; mlx_lm/models/llama.py).
import type { Ops, RopeTable, Segment, Tensor } from '../backend/ops.js';
import { KvCache } from '../engine/kvCache.js';
import type { JsonObject } from '../io/checkpoint.js';
import { ConfigReader, modelDtype } from './config.js';
import { type BatchItem, type CausalLM, type ForwardOptions, lmHead, type ModelInfo, type ModelWeights, segmentsOf, swigluMlp, updateCaches } from './model.js';
import { type RopeConfig, ropeConfig, ropeFrequencies } from './rope.js';
import { type ModelTable, type Role, same, type TensorEntry } from './table.js';

export interface GqaDims {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tied: boolean;
  attnBias: boolean;
  mlpBias: boolean;
  maxContext: number;
}

export function gqaDims(cfg: JsonObject, where = 'config.json'): GqaDims {
  const c = new ConfigReader(cfg, where);
  const hidden = c.int('hidden_size');
  const heads = c.int('num_attention_heads');
  return {
    hidden,
    layers: c.int('num_hidden_layers'),
    heads,
    kvHeads: c.int('num_key_value_heads', heads),
    headDim: c.int('head_dim', Math.floor(hidden / heads)),
    intermediate: c.int('intermediate_size'),
    vocab: c.int('vocab_size'),
    tied: c.bool('tie_word_embeddings', false),
    attnBias: c.bool('attention_bias', false),
    mlpBias: c.bool('mlp_bias', false),
    maxContext: c.int('max_position_embeddings', 4096),
  };
}

function linear(entries: TensorEntry[], path: string, role: Role, layer: number, out: number, inp: number, bias: boolean): void {
  entries.push(same(`${path}.weight`, 'linear', role, layer, [out, inp]));
  if (bias) entries.push(same(`${path}.bias`, 'bias', role, layer, [out]));
}

export function attentionEntries(entries: TensorEntry[], d: GqaDims, l: number, qkNorm: boolean): void {
  const A = `model.layers.${l}.self_attn`;
  linear(entries, `${A}.q_proj`, 'attn', l, d.heads * d.headDim, d.hidden, d.attnBias);
  linear(entries, `${A}.k_proj`, 'attn', l, d.kvHeads * d.headDim, d.hidden, d.attnBias);
  linear(entries, `${A}.v_proj`, 'attn', l, d.kvHeads * d.headDim, d.hidden, d.attnBias);
  linear(entries, `${A}.o_proj`, 'attn', l, d.hidden, d.heads * d.headDim, d.attnBias);
  if (qkNorm) {
    entries.push(same(`${A}.q_norm.weight`, 'norm', 'norm', l, [d.headDim]));
    entries.push(same(`${A}.k_norm.weight`, 'norm', 'norm', l, [d.headDim]));
  }
}

export function mlpEntries(entries: TensorEntry[], prefix: string, role: Role, l: number, hidden: number, inter: number, bias: boolean): void {
  linear(entries, `${prefix}.gate_proj`, role, l, inter, hidden, bias);
  linear(entries, `${prefix}.up_proj`, role, l, inter, hidden, bias);
  linear(entries, `${prefix}.down_proj`, role, l, hidden, inter, bias);
}

/** Shared skeleton: embeddings, per-layer norms + attention + `mlp(l)`, final norm, head. */
export function decoderTable(cfg: JsonObject, arch: string, d: GqaDims, qkNorm: boolean, mlp: (entries: TensorEntry[], l: number) => void): ModelTable {
  const entries: TensorEntry[] = [];
  entries.push(same('model.embed_tokens.weight', 'embedding', 'embed', null, [d.vocab, d.hidden]));
  for (let l = 0; l < d.layers; l++) {
    entries.push(same(`model.layers.${l}.input_layernorm.weight`, 'norm', 'norm', l, [d.hidden]));
    attentionEntries(entries, d, l, qkNorm);
    entries.push(same(`model.layers.${l}.post_attention_layernorm.weight`, 'norm', 'norm', l, [d.hidden]));
    mlp(entries, l);
  }
  entries.push(same('model.norm.weight', 'norm', 'norm', null, [d.hidden]));
  if (!d.tied) entries.push(same('lm_head.weight', 'linear', 'lm_head', null, [d.vocab, d.hidden]));
  return {
    arch,
    modelType: String(cfg.model_type),
    numLayers: d.layers,
    dtype: modelDtype(cfg),
    entries,
    dropsSource: (name) => name.endsWith('rotary_emb.inv_freq'),
    kvElementsPerTokenPerLayer: 2 * d.kvHeads * d.headDim,
    maxContext: d.maxContext,
  };
}

export function llamaTable(cfg: JsonObject, where = 'config.json'): ModelTable {
  const d = gqaDims(cfg, where);
  return decoderTable(cfg, 'llama', d, false, (entries, l) => mlpEntries(entries, `model.layers.${l}.mlp`, 'dense_mlp', l, d.hidden, d.intermediate, d.mlpBias));
}

// ---- forward pass ----
// transformers models/llama/modeling_llama.py: pre-norm decoder, grouped-query attention
// with rope in the GPT-NeoX (half-split) layout, SwiGLU MLP. Qwen3 adds per-head
// RMSNorm on q and k before rope; Qwen3-MoE swaps some MLPs for experts (own files).

export interface GqaConfig extends GqaDims {
  eps: number;
  ropeScaling: RopeConfig;
  /** Qwen3: q_norm / k_norm over head_dim before rope. */
  qkNorm: boolean;
}

export function gqaConfig(cfg: JsonObject, qkNorm: boolean, where = 'config.json'): GqaConfig {
  const c = new ConfigReader(cfg, where);
  const d = gqaDims(cfg, where);
  // Sliding-window attention (Mistral v0.1) is not implemented; within the window it equals
  // full attention, so the usable context is capped there instead of computing wrong logits.
  const window = c.optInt('sliding_window');
  const maxContext = window !== null && c.bool('use_sliding_window', true) ? Math.min(d.maxContext, window) : d.maxContext;
  return { ...d, maxContext, eps: c.num('rms_norm_eps', 1e-6), ropeScaling: ropeConfig(cfg, where), qkNorm };
}

/** The MLP of layer `l` on normalized input h. */
export type LayerMlp = (l: number, h: Tensor) => Tensor;

export class GqaDecoder implements CausalLM {
  readonly info: ModelInfo;
  private readonly rope: RopeTable;

  constructor(readonly ops: Ops, private readonly w: ModelWeights, private readonly c: GqaConfig, arch: string, modelType: string, private readonly mlp: LayerMlp) {
    this.info = { arch, modelType, vocabSize: c.vocab, numLayers: c.layers, maxContext: c.maxContext };
    const f = ropeFrequencies(c.ropeScaling, c.headDim);
    this.rope = ops.prepareRope({ invFreq: f.invFreq, scale: f.attentionScaling, interleaved: false });
  }

  newCache(): KvCache {
    return new KvCache(this.ops, 'kv', this.c.layers, 2 * this.c.kvHeads * this.c.headDim);
  }

  forward(ids: readonly number[], cache: KvCache, opts: ForwardOptions = {}): Tensor {
    return this.forwardBatch([{ ids, cache }], opts);
  }

  forwardBatch(items: readonly BatchItem[], opts: ForwardOptions = {}): Tensor {
    const { ops, w, c } = this;
    const segments = segmentsOf(items);
    const caches = items.map((i) => i.cache);
    let x = ops.embedding(w.get('model.embed_tokens.weight'), ops.ids(items.flatMap((i) => i.ids)));
    for (let l = 0; l < c.layers; l++) {
      const L = `model.layers.${l}`;
      x = ops.add(x, this.attention(l, `${L}.self_attn`, ops.rmsNorm(x, w.get(`${L}.input_layernorm.weight`), c.eps), caches, segments));
      x = ops.add(x, this.mlp(l, ops.rmsNorm(x, w.get(`${L}.post_attention_layernorm.weight`), c.eps)));
    }
    return lmHead(ops, w, '', x, c.eps, opts, segments);
  }

  private attention(l: number, A: string, h: Tensor, caches: readonly KvCache[], segments: readonly Segment[]): Tensor {
    const { ops, w, c } = this;
    const N = ops.shape(h)[0]!;
    const project = (name: string, heads: number) => ops.reshape(ops.linear(h, w.get(`${A}.${name}.weight`), w.opt(`${A}.${name}.bias`)), [N, heads, c.headDim]);
    let q = project('q_proj', c.heads);
    let k = project('k_proj', c.kvHeads);
    const v = project('v_proj', c.kvHeads);
    if (c.qkNorm) {
      q = ops.rmsNorm(q, w.get(`${A}.q_norm.weight`), c.eps);
      k = ops.rmsNorm(k, w.get(`${A}.k_norm.weight`), c.eps);
    }
    q = ops.rope(q, this.rope, segments);
    k = ops.rope(k, this.rope, segments);
    const kv = updateCaches(ops, l, caches, segments, [k, v]);
    const out = ops.raggedAttention(q, kv.map(([keys]) => keys!), kv.map(([, values]) => values!), segments, c.headDim ** -0.5);
    return ops.linear(ops.reshape(out, [N, c.heads * c.headDim]), w.get(`${A}.o_proj.weight`), w.opt(`${A}.o_proj.bias`));
  }
}

export function buildLlama(ops: Ops, w: ModelWeights, cfg: JsonObject, modelType: string): CausalLM {
  return new GqaDecoder(ops, w, gqaConfig(cfg, false), 'llama', modelType, (l, h) => swigluMlp(ops, w, `model.layers.${l}.mlp`, h));
}

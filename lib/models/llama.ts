// Llama / Mistral (model_type llama, mistral): grouped-query attention with
// optional projection biases, SwiGLU MLP, optional tied embeddings. The helpers
// here are shared with qwen3 and qwen3_moe, which use the same layout
// (transformers models/llama/modeling_llama.py; mlx_lm/models/llama.py).
import type { JsonObject } from '../io/checkpoint.js';
import { ConfigReader, modelDtype } from './config.js';
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

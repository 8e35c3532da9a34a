// DeepSeek-V3 / Kimi-K2 (model_type deepseek_v3, kimi_k2): MLA attention with a
// latent KV cache, noaux_tc sigmoid routing, shared experts, dense first layers.
// Output layout follows mlx_lm/models/deepseek_v3.py after sanitize: experts
// stacked into switch_mlp, kv_b_proj split into embed_q / unembed_out, MTP
// layers (index ≥ num_hidden_layers) dropped.
import type { JsonObject } from '../io/checkpoint.js';
import { ConfigReader, modelDtype } from './config.js';
import { type ModelTable, same, type TensorEntry } from './table.js';

export interface DeepseekV3Dims {
  hidden: number;
  layers: number;
  heads: number;
  vocab: number;
  qLoraRank: number | null;
  kvLoraRank: number;
  nope: number;
  rope: number;
  vDim: number;
  intermediate: number;
  moeIntermediate: number;
  experts: number;
  sharedExperts: number;
  firstDense: number;
  moeLayerFreq: number;
  tied: boolean;
  maxContext: number;
}

export function deepseekV3Dims(cfg: JsonObject, where = 'config.json'): DeepseekV3Dims {
  const c = new ConfigReader(cfg, where);
  return {
    hidden: c.int('hidden_size'),
    layers: c.int('num_hidden_layers'),
    heads: c.int('num_attention_heads'),
    vocab: c.int('vocab_size'),
    qLoraRank: c.optInt('q_lora_rank'),
    kvLoraRank: c.int('kv_lora_rank'),
    nope: c.int('qk_nope_head_dim'),
    rope: c.int('qk_rope_head_dim'),
    vDim: c.int('v_head_dim'),
    intermediate: c.int('intermediate_size'),
    moeIntermediate: c.int('moe_intermediate_size'),
    experts: c.int('n_routed_experts', 0),
    sharedExperts: c.int('n_shared_experts', 0),
    firstDense: c.int('first_k_dense_replace', 0),
    moeLayerFreq: c.int('moe_layer_freq', 1),
    tied: c.bool('tie_word_embeddings', false),
    maxContext: c.int('max_position_embeddings', 4096),
  };
}

export function isMoeLayer(d: DeepseekV3Dims, layer: number): boolean {
  return d.experts > 0 && layer >= d.firstDense && layer % d.moeLayerFreq === 0;
}

/** `prefix` is "language_model." for Kimi-K2.5's wrapper (mlx_lm/models/kimi_k25.py). */
export function deepseekV3Table(cfg: JsonObject, modelType: string, prefix = '', where = 'config.json'): ModelTable {
  const d = deepseekV3Dims(cfg, where);
  const p = prefix;
  const entries: TensorEntry[] = [];
  entries.push(same(`${p}model.embed_tokens.weight`, 'embedding', 'embed', null, [d.vocab, d.hidden]));
  const qHead = d.nope + d.rope;
  for (let l = 0; l < d.layers; l++) {
    const L = `${p}model.layers.${l}`;
    entries.push(same(`${L}.input_layernorm.weight`, 'norm', 'norm', l, [d.hidden]));
    const A = `${L}.self_attn`;
    if (d.qLoraRank === null) {
      entries.push(same(`${A}.q_proj.weight`, 'linear', 'attn', l, [d.heads * qHead, d.hidden]));
    } else {
      entries.push(same(`${A}.q_a_proj.weight`, 'linear', 'attn', l, [d.qLoraRank, d.hidden]));
      entries.push(same(`${A}.q_a_layernorm.weight`, 'norm', 'norm', l, [d.qLoraRank]));
      entries.push(same(`${A}.q_b_proj.weight`, 'linear', 'attn', l, [d.heads * qHead, d.qLoraRank]));
    }
    entries.push(same(`${A}.kv_a_proj_with_mqa.weight`, 'linear', 'attn', l, [d.kvLoraRank + d.rope, d.hidden]));
    entries.push(same(`${A}.kv_a_layernorm.weight`, 'norm', 'norm', l, [d.kvLoraRank]));
    const kvB = { kind: 'kv_b' as const, name: `${A}.kv_b_proj.weight`, heads: d.heads, nope: d.nope, v: d.vDim, rank: d.kvLoraRank };
    entries.push({ name: `${A}.embed_q.weight`, module: `${A}.embed_q`, kind: 'multi_linear', role: 'attn', layer: l, shape: [d.heads, d.kvLoraRank, d.nope], source: { ...kvB, part: 'embed_q' } });
    entries.push({ name: `${A}.unembed_out.weight`, module: `${A}.unembed_out`, kind: 'multi_linear', role: 'attn', layer: l, shape: [d.heads, d.vDim, d.kvLoraRank], source: { ...kvB, part: 'unembed_out' } });
    entries.push(same(`${A}.o_proj.weight`, 'linear', 'attn', l, [d.hidden, d.heads * d.vDim]));
    entries.push(same(`${L}.post_attention_layernorm.weight`, 'norm', 'norm', l, [d.hidden]));
    const M = `${L}.mlp`;
    if (!isMoeLayer(d, l)) {
      for (const proj of ['gate_proj', 'up_proj'] as const) entries.push(same(`${M}.${proj}.weight`, 'linear', 'dense_mlp', l, [d.intermediate, d.hidden]));
      entries.push(same(`${M}.down_proj.weight`, 'linear', 'dense_mlp', l, [d.hidden, d.intermediate]));
      continue;
    }
    entries.push(same(`${M}.gate.weight`, 'param', 'router', l, [d.experts, d.hidden]));
    entries.push(same(`${M}.gate.e_score_correction_bias`, 'param', 'router', l, [d.experts], 'F32'));
    for (const proj of ['gate_proj', 'up_proj', 'down_proj'] as const) {
      const shape = proj === 'down_proj' ? [d.hidden, d.moeIntermediate] : [d.moeIntermediate, d.hidden];
      const names = Array.from({ length: d.experts }, (_, e) => `${M}.experts.${e}.${proj}.weight`);
      entries.push({ name: `${M}.switch_mlp.${proj}.weight`, module: `${M}.switch_mlp.${proj}`, kind: 'switch_linear', role: 'expert', layer: l, shape: [d.experts, ...shape], source: { kind: 'stack', names } });
    }
    if (d.sharedExperts > 0) {
      const inter = d.moeIntermediate * d.sharedExperts;
      for (const proj of ['gate_proj', 'up_proj'] as const) entries.push(same(`${M}.shared_experts.${proj}.weight`, 'linear', 'shared_expert', l, [inter, d.hidden]));
      entries.push(same(`${M}.shared_experts.down_proj.weight`, 'linear', 'shared_expert', l, [d.hidden, inter]));
    }
  }
  entries.push(same(`${p}model.norm.weight`, 'norm', 'norm', null, [d.hidden]));
  if (!d.tied) entries.push(same(`${p}lm_head.weight`, 'linear', 'lm_head', null, [d.vocab, d.hidden]));
  const layerOf = new RegExp(`^${p.replace(/\./g, '\\.')}model\\.layers\\.(\\d+)\\.`);
  return {
    arch: 'deepseek_v3',
    modelType,
    numLayers: d.layers,
    dtype: modelDtype(cfg),
    entries,
    // MTP (next-token prediction) layers sit at indices ≥ num_hidden_layers; mlx-lm drops them.
    dropsSource: (name) => Number(layerOf.exec(name)?.[1] ?? -1) >= d.layers || name.endsWith('rotary_emb.inv_freq'),
    kvElementsPerTokenPerLayer: d.kvLoraRank + d.rope,
    maxContext: d.maxContext,
  };
}

// DeepSeek-V3 / Kimi-K2 (model_type deepseek_v3, kimi_k2): MLA attention with a
// latent KV cache, noaux_tc sigmoid routing, shared experts, dense first layers.
// Output layout follows mlx_lm/models/deepseek_v3.py after sanitize: experts
// stacked into switch_mlp, kv_b_proj split into embed_q / unembed_out, MTP
// layers (index ≥ num_hidden_layers) dropped.
import type { MlaLayerWeights, Ops, RopeTable, Segment, Tensor } from '../backend/ops.js';
import { KvCache } from '../engine/kvCache.js';
import type { JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { ConfigReader, modelDtype } from './config.js';
import { type BatchItem, type CausalLM, type ForwardOptions, lmHead, type ModelInfo, type ModelWeights, segmentsOf, swigluMlp, updateCaches } from './model.js';
import { deepseekSoftmaxMscale, type RopeConfig, ropeConfig, ropeFrequencies } from './rope.js';
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

// ---- forward pass ----
// transformers models/deepseek_v3/modeling_deepseek_v3.py; ../shared/reference/kimi.md §3.

/**
 * q_a_layernorm and kv_a_layernorm use eps 1e-6 whatever rms_norm_eps says: DeepSeek's
 * reference model.py, transformers and mlx-lm all build them with the default (the
 * deepseek_v3_noqlora fixture, rms_norm_eps 1e-5, tells the two apart). Every other
 * norm uses rms_norm_eps.
 */
export const MLA_NORM_EPS = 1e-6;

export interface DeepseekV3Config extends DeepseekV3Dims {
  eps: number;
  topK: number;
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  ropeScaling: RopeConfig;
  ropeInterleave: boolean;
}

export function deepseekV3Config(cfg: JsonObject, where = 'config.json'): DeepseekV3Config {
  const c = new ConfigReader(cfg, where);
  const d = deepseekV3Dims(cfg, where);
  if (d.experts > 0) {
    const method = c.str('topk_method', 'noaux_tc');
    const scoring = c.str('scoring_func', 'sigmoid');
    if (method !== 'noaux_tc' || scoring !== 'sigmoid') throw new MlxkError(`${where}: routing topk_method "${method}" with scoring_func "${scoring}" is not supported (expected noaux_tc with sigmoid, as DeepSeek-V3 and Kimi-K2)`);
  }
  return {
    ...d,
    eps: c.num('rms_norm_eps', 1e-6),
    topK: c.int('num_experts_per_tok', 1),
    nGroup: c.int('n_group', 1),
    topkGroup: c.int('topk_group', 1),
    normTopkProb: c.bool('norm_topk_prob', true),
    routedScalingFactor: c.num('routed_scaling_factor', 1),
    ropeScaling: ropeConfig(cfg, where),
    ropeInterleave: c.bool('rope_interleave', true),
  };
}

export class DeepseekV3Model implements CausalLM {
  readonly info: ModelInfo;
  private readonly rope: RopeTable;
  private readonly scale: number;
  /** layerWeights' last result per layer, reused while the layer's weights are the same objects. */
  private readonly fused: { inputNorm: string; weights?: MlaLayerWeights }[] = [];

  constructor(readonly ops: Ops, private readonly w: ModelWeights, private readonly c: DeepseekV3Config, modelType: string, private readonly prefix = '') {
    this.info = { arch: 'deepseek_v3', modelType, vocabSize: c.vocab, numLayers: c.layers, maxContext: c.maxContext };
    const f = ropeFrequencies(c.ropeScaling, c.rope);
    this.rope = ops.prepareRope({ invFreq: f.invFreq, scale: f.attentionScaling, interleaved: c.ropeInterleave });
    this.scale = (c.nope + c.rope) ** -0.5 * deepseekSoftmaxMscale(c.ropeScaling);
  }

  newCache(): KvCache {
    return new KvCache(this.ops, 'mla', this.c.layers, this.c.kvLoraRank + this.c.rope);
  }

  forward(ids: readonly number[], cache: KvCache, opts: ForwardOptions = {}): Tensor {
    return this.forwardBatch([{ ids, cache }], opts);
  }

  forwardBatch(items: readonly BatchItem[], opts: ForwardOptions = {}): Tensor {
    const p = this.prefix;
    const segments = segmentsOf(items);
    const caches = items.map((i) => i.cache);
    let x = this.ops.embedding(this.w.get(`${p}model.embed_tokens.weight`), this.ops.ids(items.flatMap((i) => i.ids)));
    const L = this.c.layers;
    if (!this.ops.mlaLayers) for (let l = 0; l < L; l++) x = this.layer(l, x, caches, segments);
    else if (this.w.holdsAllLayers) x = this.layersFused(0, L, x, caches, segments);
    else for (let l = 0; l < L; l++) x = this.layersFused(l, l + 1, x, caches, segments);
    return lmHead(this.ops, this.w, p, x, this.c.eps, opts, segments);
  }

  /**
   * Layers [from, to) as `layer` in one backend call (Ops.mlaLayers): every layer of a step at once
   * (a call's JS and N-API work cost ~28 µs a layer on the bundled model, a quarter of its kernels),
   * or one at a time while weights are streamed (lib/models/streamedWeights.ts holds one layer).
   */
  private layersFused(from: number, to: number, x: Tensor, caches: readonly KvCache[], segments: readonly Segment[]): Tensor {
    const row = [[1, this.c.kvLoraRank + this.c.rope]];
    const layers: MlaLayerWeights[] = [];
    const buffers: Tensor[][] = [];
    for (let l = from; l < to; l++) {
      layers.push(this.layerWeights(l));
      buffers.push(caches.map((c, b) => c.reserve(l, segments[b]!.tokens, row)[0]!));
    }
    const r = this.ops.mlaLayers!(x, layers, buffers, segments);
    r.caches.forEach((perSeq, i) => perSeq.forEach((buf, b) => caches[b]!.store(from + i, [buf], segments[b]!.tokens)));
    return r.out;
  }

  /**
   * Layer l's weights for Ops.mlaLayers. Built once and reused while the layer's input norm is the same
   * object: a layer's weights are loaded and let go together (lib/models/streamedWeights.ts), so a new
   * norm means a new set. Building it every step would cost ~20 name lookups per layer per token.
   */
  private layerWeights(l: number): MlaLayerWeights {
    const slot = (this.fused[l] ??= { inputNorm: `${this.prefix}model.layers.${l}.input_layernorm.weight` });
    const norm = this.w.get(slot.inputNorm);
    if (slot.weights?.inputNorm !== norm) slot.weights = this.buildLayerWeights(l);
    return slot.weights;
  }

  private buildLayerWeights(l: number): MlaLayerWeights {
    const { w, c } = this;
    const L = `${this.prefix}model.layers.${l}`;
    const A = `${L}.self_attn`;
    const M = `${L}.mlp`;
    const mlp = (P: string) => ({ gate: w.get(`${P}.gate_proj.weight`), up: w.get(`${P}.up_proj.weight`), down: w.get(`${P}.down_proj.weight`) });
    const moe = isMoeLayer(c, l);
    return {
      hidden: c.hidden, heads: c.heads, nope: c.nope, rope: c.rope, rank: c.kvLoraRank, vDim: c.vDim, eps: c.eps, mlaEps: MLA_NORM_EPS, scale: this.scale, ropeTable: this.rope,
      inputNorm: w.get(`${L}.input_layernorm.weight`),
      ...(c.qLoraRank === null
        ? { q: w.get(`${A}.q_proj.weight`) }
        : { qA: w.get(`${A}.q_a_proj.weight`), qANorm: w.get(`${A}.q_a_layernorm.weight`), qB: w.get(`${A}.q_b_proj.weight`) }),
      kvA: w.get(`${A}.kv_a_proj_with_mqa.weight`),
      kvANorm: w.get(`${A}.kv_a_layernorm.weight`),
      embedQ: w.get(`${A}.embed_q.weight`),
      unembedOut: w.get(`${A}.unembed_out.weight`),
      oProj: w.get(`${A}.o_proj.weight`),
      postNorm: w.get(`${L}.post_attention_layernorm.weight`),
      ...(!moe ? { mlp: mlp(M) } : c.sharedExperts > 0 ? { mlp: mlp(`${M}.shared_experts`) } : {}),
      ...(moe && {
        moe: {
          router: w.get(`${M}.gate.weight`),
          bias: w.get(`${M}.gate.e_score_correction_bias`),
          experts: { gate: w.get(`${M}.switch_mlp.gate_proj.weight`), up: w.get(`${M}.switch_mlp.up_proj.weight`), down: w.get(`${M}.switch_mlp.down_proj.weight`) },
          route: { topK: c.topK, nGroup: c.nGroup, topkGroup: c.topkGroup, normTopkProb: c.normTopkProb, routedScalingFactor: c.routedScalingFactor },
        },
      }),
    };
  }

  private layer(l: number, x: Tensor, caches: readonly KvCache[], segments: readonly Segment[]): Tensor {
    const { ops, w, c } = this;
    const L = `${this.prefix}model.layers.${l}`;
    const h = ops.rmsNorm(x, w.get(`${L}.input_layernorm.weight`), c.eps);
    const x2 = ops.add(x, this.attendBatch(l, `${L}.self_attn`, h, caches, segments));
    const h2 = ops.rmsNorm(x2, w.get(`${L}.post_attention_layernorm.weight`), c.eps);
    return ops.add(x2, isMoeLayer(c, l) ? this.moe(`${L}.mlp`, h2) : swigluMlp(ops, w, `${L}.mlp`, h2));
  }

  /** MLA of one sequence (lib/calib's block-by-block pass calls it). */
  attention(l: number, A: string, h: Tensor, cache: KvCache): Tensor {
    return this.attendBatch(l, A, h, [cache], [{ tokens: this.ops.shape(h)[0]!, offset: cache.length }]);
  }

  /**
   * MLA over each sequence's latent cache: absorbed for sequences stepping one token (all of
   * them in one ragged attention call), expanded to per-head K/V for longer runs (prefill).
   */
  private attendBatch(l: number, A: string, h: Tensor, caches: readonly KvCache[], segments: readonly Segment[]): Tensor {
    const { ops, w, c } = this;
    const N = ops.shape(h)[0]!;
    const { heads: H, nope, rope, kvLoraRank: rank, vDim } = c;
    const qFlat = c.qLoraRank === null
      ? ops.linear(h, w.get(`${A}.q_proj.weight`))
      : ops.linear(ops.rmsNorm(ops.linear(h, w.get(`${A}.q_a_proj.weight`)), w.get(`${A}.q_a_layernorm.weight`), MLA_NORM_EPS), w.get(`${A}.q_b_proj.weight`));
    const q = ops.reshape(qFlat, [N, H, nope + rope]);
    const qNope = ops.slice(q, 2, 0, nope);
    const qPe = ops.rope(ops.slice(q, 2, nope, nope + rope), this.rope, segments);
    const kv = ops.linear(h, w.get(`${A}.kv_a_proj_with_mqa.weight`));
    const latent = ops.rmsNorm(ops.slice(kv, 1, 0, rank), w.get(`${A}.kv_a_layernorm.weight`), MLA_NORM_EPS);
    const kPe = ops.rope(ops.reshape(ops.slice(kv, 1, rank, rank + rope), [N, 1, rope]), this.rope, segments);
    const entries = updateCaches(ops, l, caches, segments, [ops.concat([ops.reshape(latent, [N, 1, rank]), kPe], 2)]).map(([e]) => e!);
    const starts: number[] = [];
    segments.reduce((at, s) => (starts.push(at), at + s.tokens), 0);
    const rows = (t: Tensor, b: number) => (segments.length === 1 ? t : ops.slice(t, 0, starts[b]!, starts[b]! + segments[b]!.tokens));
    const outs: Tensor[] = new Array<Tensor>(segments.length);
    const stepping = segments.flatMap((s, b) => (s.tokens === 1 ? [b] : []));
    let decoded: Tensor | undefined;
    if (stepping.length > 0) {
      const pick = (t: Tensor) => (stepping.length === segments.length ? t : ops.concat(stepping.map((b) => rows(t, b)), 0));
      const qLatent = ops.perHeadLinear(pick(qNope), w.get(`${A}.embed_q.weight`), true);
      const mine = stepping.map((b) => entries[b]!);
      const o = ops.raggedAttention(ops.concat([qLatent, pick(qPe)], 2), mine, mine.map((e) => ops.slice(e, 2, 0, rank)), stepping.map((b) => segments[b]!), this.scale);
      const out = ops.perHeadLinear(o, w.get(`${A}.unembed_out.weight`), true);
      // All sequences decoding (the usual batch): the rows are already in order.
      if (stepping.length === segments.length) decoded = out;
      else stepping.forEach((b, i) => (outs[b] = stepping.length === 1 ? out : ops.slice(out, 0, i, i + 1)));
    }
    segments.forEach((s, b) => {
      if (s.tokens === 1) return;
      const e = entries[b]!;
      const S = ops.shape(e)[0]!;
      const latentAll = ops.slice(e, 2, 0, rank);
      const kNope = ops.perHeadLinear(latentAll, w.get(`${A}.embed_q.weight`), false);
      const v = ops.perHeadLinear(latentAll, w.get(`${A}.unembed_out.weight`), true);
      const kPeAll = ops.broadcast(ops.slice(e, 2, rank, rank + rope), [S, H, rope]);
      outs[b] = ops.attention(ops.concat([rows(qNope, b), rows(qPe, b)], 2), ops.concat([kNope, kPeAll], 2), v, this.scale);
    });
    const out = decoded ?? (outs.length === 1 ? outs[0]! : ops.concat(outs, 0));
    return ops.linear(ops.reshape(out, [N, H * vDim]), w.get(`${A}.o_proj.weight`));
  }

  private moe(M: string, x: Tensor): Tensor {
    const { ops, w, c } = this;
    const route = ops.routeNoAuxTc(ops.linear(x, w.get(`${M}.gate.weight`)), w.get(`${M}.gate.e_score_correction_bias`), {
      topK: c.topK, nGroup: c.nGroup, topkGroup: c.topkGroup, normTopkProb: c.normTopkProb, routedScalingFactor: c.routedScalingFactor,
    });
    const y = ops.moe(x, route, {
      gate: w.get(`${M}.switch_mlp.gate_proj.weight`),
      up: w.get(`${M}.switch_mlp.up_proj.weight`),
      down: w.get(`${M}.switch_mlp.down_proj.weight`),
    });
    return c.sharedExperts > 0 ? ops.add(y, swigluMlp(ops, w, `${M}.shared_experts`, x)) : y;
  }
}

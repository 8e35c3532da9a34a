// Qwen3-MoE (model_type qwen3_moe): qwen3 attention; MoE layers with a softmax
// router (mlp.gate, a Linear) over routed experts stacked into switch_mlp, no
// shared expert; layers in mlp_only_layers (or off the decoder_sparse_step
// grid) keep a dense MLP. transformers models/qwen3_moe; mlx_lm/models/qwen3_moe.py.
import type { Ops } from '../backend/ops.js';
import type { JsonObject } from '../io/checkpoint.js';
import { ConfigReader } from './config.js';
import { decoderTable, GqaDecoder, gqaConfig, gqaDims, mlpEntries } from './llama.js';
import { type CausalLM, type ModelWeights, swigluMlp } from './model.js';
import { type ModelTable, same } from './table.js';

export interface Qwen3MoeDims {
  experts: number;
  moeIntermediate: number;
  sparseStep: number;
  mlpOnlyLayers: number[];
  topK: number;
  normTopkProb: boolean;
}

export function qwen3MoeDims(cfg: JsonObject, where = 'config.json'): Qwen3MoeDims {
  const c = new ConfigReader(cfg, where);
  return {
    // transformers 5 writes num_local_experts; hub configs say num_experts.
    experts: c.has('num_experts') ? c.int('num_experts') : c.int('num_local_experts'),
    moeIntermediate: c.int('moe_intermediate_size'),
    sparseStep: c.int('decoder_sparse_step', 1),
    mlpOnlyLayers: c.intList('mlp_only_layers'),
    topK: c.int('num_experts_per_tok', 1),
    normTopkProb: c.bool('norm_topk_prob', false),
  };
}

export function isQwenMoeLayer(m: Qwen3MoeDims, l: number): boolean {
  return !m.mlpOnlyLayers.includes(l) && m.experts > 0 && (l + 1) % m.sparseStep === 0;
}

export function qwen3MoeTable(cfg: JsonObject, where = 'config.json'): ModelTable {
  const d = gqaDims(cfg, where);
  const m = qwen3MoeDims(cfg, where);
  return decoderTable(cfg, 'qwen3_moe', d, true, (entries, l) => {
    const M = `model.layers.${l}.mlp`;
    if (!isQwenMoeLayer(m, l)) {
      mlpEntries(entries, M, 'dense_mlp', l, d.hidden, d.intermediate, false);
      return;
    }
    entries.push(same(`${M}.gate.weight`, 'linear', 'router', l, [m.experts, d.hidden]));
    for (const proj of ['gate_proj', 'up_proj', 'down_proj'] as const) {
      const shape = proj === 'down_proj' ? [d.hidden, m.moeIntermediate] : [m.moeIntermediate, d.hidden];
      const names = Array.from({ length: m.experts }, (_, e) => `${M}.experts.${e}.${proj}.weight`);
      entries.push({ name: `${M}.switch_mlp.${proj}.weight`, module: `${M}.switch_mlp.${proj}`, kind: 'switch_linear', role: 'expert', layer: l, shape: [m.experts, ...shape], source: { kind: 'stack', names } });
    }
  });
}

export function buildQwen3Moe(ops: Ops, w: ModelWeights, cfg: JsonObject, modelType: string): CausalLM {
  const m = qwen3MoeDims(cfg);
  return new GqaDecoder(ops, w, gqaConfig(cfg, true), 'qwen3_moe', modelType, (l, h) => {
    const M = `model.layers.${l}.mlp`;
    if (!isQwenMoeLayer(m, l)) return swigluMlp(ops, w, M, h);
    const route = ops.routeSoftmaxTopK(ops.linear(h, w.get(`${M}.gate.weight`)), m.topK, m.normTopkProb);
    return ops.moe(h, route, { gate: w.get(`${M}.switch_mlp.gate_proj.weight`), up: w.get(`${M}.switch_mlp.up_proj.weight`), down: w.get(`${M}.switch_mlp.down_proj.weight`) });
  });
}

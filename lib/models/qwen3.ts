// Qwen3 (model_type qwen3): the llama layout plus per-head RMSNorm on queries
// and keys (q_norm, k_norm over head_dim); head_dim is explicit in the config.
// transformers models/qwen3/modeling_qwen3.py; mlx_lm/models/qwen3.py.
import type { Ops } from '../backend/ops.js';
import type { JsonObject } from '../io/checkpoint.js';
import { decoderTable, GqaDecoder, gqaConfig, gqaDims, mlpEntries } from './llama.js';
import { type CausalLM, type ModelWeights, swigluMlp } from './model.js';
import type { ModelTable } from './table.js';

export function qwen3Table(cfg: JsonObject, where = 'config.json'): ModelTable {
  const d = gqaDims(cfg, where);
  return decoderTable(cfg, 'qwen3', d, true, (entries, l) => mlpEntries(entries, `model.layers.${l}.mlp`, 'dense_mlp', l, d.hidden, d.intermediate, false));
}

export function buildQwen3(ops: Ops, w: ModelWeights, cfg: JsonObject, modelType: string): CausalLM {
  return new GqaDecoder(ops, w, gqaConfig(cfg, true), 'qwen3', modelType, (l, h) => swigluMlp(ops, w, `model.layers.${l}.mlp`, h));
}

// model_type → architecture. mlx-lm maps kimi_k2 onto deepseek_v3 the same way
// (MODEL_REMAPPING in mlx_lm/utils.py).
import type { JsonObject } from '../io/checkpoint.js';
import { CheckpointError, MlxkError } from '../io/errors.js';
import { deepseekV3Table } from './deepseek_v3.js';
import { kimiK25Table } from './kimi_k25.js';
import { llamaTable } from './llama.js';
import { qwen3Table } from './qwen3.js';
import { qwen3MoeTable } from './qwen3_moe.js';
import type { ModelTable } from './table.js';
import { validateConfig } from './validate.js';

const TABLES: Record<string, (cfg: JsonObject, where: string) => ModelTable> = {
  deepseek_v3: (cfg, where) => deepseekV3Table(cfg, 'deepseek_v3', '', where),
  kimi_k2: (cfg, where) => deepseekV3Table(cfg, 'kimi_k2', '', where),
  kimi_k25: kimiK25Table,
  llama: llamaTable,
  mistral: llamaTable,
  qwen3: qwen3Table,
  qwen3_moe: qwen3MoeTable,
};

export const SUPPORTED_MODEL_TYPES = Object.keys(TABLES);

export function tensorTable(cfg: JsonObject, where = 'config.json'): ModelTable {
  const type = cfg.model_type;
  if (typeof type !== 'string') throw new MlxkError(`${where}: missing "model_type" (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  const make = TABLES[type];
  if (!make) throw new MlxkError(`${where}: model_type "${type}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  validateConfig(cfg, where);
  try {
    return make(cfg, where);
  } catch (e) {
    throw CheckpointError.wrap(e, where);
  }
}

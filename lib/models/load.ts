// Opens a model directory and builds its forward pass on a backend: the tensor table
// says which weights to load, the architecture file turns them into a CausalLM.
import type { Ops } from '../backend/ops.js';
import { Checkpoint, type JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { DeepseekV3Model, deepseekV3Config } from './deepseek_v3.js';
import { buildLlama } from './llama.js';
import { loadWeights } from './loadWeights.js';
import type { CausalLM, ModelWeights } from './model.js';
import { buildQwen3 } from './qwen3.js';
import { buildQwen3Moe } from './qwen3_moe.js';
import { tensorTable } from './registry.js';

export type Builder = (ops: Ops, w: ModelWeights, cfg: JsonObject, modelType: string) => CausalLM;

const BUILDERS: Record<string, Builder> = {
  deepseek_v3: (ops, w, cfg, type) => new DeepseekV3Model(ops, w, deepseekV3Config(cfg), type),
  kimi_k2: (ops, w, cfg, type) => new DeepseekV3Model(ops, w, deepseekV3Config(cfg), type),
  kimi_k25: (ops, w, cfg, type) => new DeepseekV3Model(ops, w, deepseekV3Config(cfg.text_config as JsonObject, 'config.json text_config'), type, 'language_model.'),
  llama: buildLlama,
  mistral: buildLlama,
  qwen3: buildQwen3,
  qwen3_moe: buildQwen3Moe,
};

export interface LoadedModel {
  model: CausalLM;
  dir: string;
  config: JsonObject;
  /** The weights by tensor name (profiling attributes time to them). */
  weights: ModelWeights;
  /** Seconds spent reading and preparing weights. */
  loadSeconds: number;
}

/** The forward-pass builder of `modelType`, or one line naming the supported ones. */
export function builderOf(modelType: string, where: string): Builder {
  const build = BUILDERS[modelType];
  if (!build) throw new MlxkError(`${where}: model_type "${modelType}" has a tensor table but no forward pass yet (supported: ${Object.keys(BUILDERS).join(', ')})`);
  return build;
}

/** Throws, naming `where`, unless mlxk has a forward pass for `modelType`. */
export function checkForwardPass(modelType: string, where: string): void {
  builderOf(modelType, where);
}

/** The forward pass of `modelType` over weights already loaded. */
export function buildModel(ops: Ops, weights: ModelWeights, config: JsonObject, modelType: string, where: string): CausalLM {
  return builderOf(modelType, where)(ops, weights, config, modelType);
}

export async function loadModel(path: string, ops: Ops): Promise<LoadedModel> {
  const started = performance.now();
  const ckpt = Checkpoint.open(path);
  try {
    const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
    checkForwardPass(table.modelType, `${ckpt.dir}/config.json`);
    const weights = await loadWeights(ckpt, table, ops);
    const model = buildModel(ops, weights, ckpt.config, table.modelType, `${ckpt.dir}/config.json`);
    return { model, dir: ckpt.dir, config: ckpt.config, weights, loadSeconds: (performance.now() - started) / 1000 };
  } finally {
    ckpt.close();
  }
}

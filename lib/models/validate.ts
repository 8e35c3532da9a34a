// config.json checked before anything is sized from it: every count in a sane range for the
// architectures mlxk runs (loops and allocations follow these numbers, so 2³¹ layers must be
// refused here, not discovered by a hang) and consistent with each other (routing that cannot
// pick its experts fails only at the first token otherwise). One line naming file, field, value
// and what is expected. tensorTable runs it, so inspect, plan, generate, quantize and serve share it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonObject, readJson, resolveModelPath } from '../io/checkpoint.js';
import { CheckpointError } from '../io/errors.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { generationDefaults } from './generationConfig.js';
import { tensorTable } from './registry.js';

/** Inclusive ranges; the largest real models (Kimi-K2: 61 layers, 384 experts, 163840 tokens) sit far inside. */
const INT_RANGES: Record<string, [number, number]> = {
  num_hidden_layers: [1, 1024],
  hidden_size: [1, 65536],
  num_attention_heads: [1, 1024],
  num_key_value_heads: [1, 1024],
  head_dim: [1, 4096],
  intermediate_size: [1, 1 << 20],
  moe_intermediate_size: [1, 1 << 20],
  vocab_size: [1, 1 << 22],
  max_position_embeddings: [1, 1 << 24],
  n_routed_experts: [0, 4096],
  num_experts: [0, 4096],
  num_local_experts: [0, 4096],
  n_shared_experts: [0, 64],
  num_experts_per_tok: [1, 4096],
  n_group: [1, 4096],
  topk_group: [1, 4096],
  q_lora_rank: [1, 65536],
  kv_lora_rank: [1, 65536],
  qk_nope_head_dim: [0, 4096],
  qk_rope_head_dim: [2, 4096],
  v_head_dim: [1, 4096],
  first_k_dense_replace: [0, 1024],
  moe_layer_freq: [1, 1024],
  decoder_sparse_step: [1, 1024],
  num_nextn_predict_layers: [0, 64],
  sliding_window: [1, 1 << 24],
};

/** Positive finite numbers (norm epsilons below 1). */
const POSITIVE: Record<string, number> = { rms_norm_eps: 1, rope_theta: Infinity, routed_scaling_factor: 1e6 };

/** Table entries are made per layer per expert: their product is bounded too. */
const MAX_LAYER_EXPERTS = 1 << 18;

function fail(where: string, msg: string): never {
  throw new CheckpointError(where, msg);
}

function intField(cfg: JsonObject, key: string, where: string): number | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) return undefined;
  const [lo, hi] = INT_RANGES[key]!;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(where, `"${key}" is ${JSON.stringify(v)}; expected an integer in ${lo}..${hi}`);
  return v;
}

/** Checks config.json (and a multimodal wrapper's text_config) in place; throws CheckpointError. */
export function validateConfig(cfg: JsonObject, where: string): void {
  const text = cfg.text_config;
  if (text !== undefined && text !== null) {
    if (typeof text !== 'object' || Array.isArray(text)) fail(where, '"text_config" must be an object');
    validateConfig(text as JsonObject, `${where} (text_config)`);
  }
  const n: Record<string, number | undefined> = {};
  for (const key of Object.keys(INT_RANGES)) n[key] = intField(cfg, key, where);
  for (const [key, max] of Object.entries(POSITIVE)) {
    const v = cfg[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !(v > 0) || !(v < max) || !Number.isFinite(v)) fail(where, `"${key}" is ${JSON.stringify(v)}; expected a positive number${Number.isFinite(max) ? ` below ${max}` : ''}`);
  }
  const heads = n.num_attention_heads;
  const kv = n.num_key_value_heads;
  if (heads !== undefined && kv !== undefined && heads % kv !== 0) fail(where, `"num_key_value_heads" ${kv} does not divide "num_attention_heads" ${heads}`);
  if (heads !== undefined && n.hidden_size !== undefined && n.head_dim === undefined && n.kv_lora_rank === undefined && n.hidden_size % heads !== 0) {
    fail(where, `"hidden_size" ${n.hidden_size} is not a multiple of "num_attention_heads" ${heads} (and no "head_dim" is given)`);
  }
  for (const key of ['head_dim', 'qk_rope_head_dim'] as const) {
    if (n[key] !== undefined && n[key]! % 2 !== 0) fail(where, `"${key}" is ${n[key]}; rotary embeddings need an even size`);
  }
  const expertKey = ['n_routed_experts', 'num_experts', 'num_local_experts'].find((k) => n[k] !== undefined);
  const experts = expertKey === undefined ? 0 : n[expertKey]!;
  if (experts > 0) {
    const topK = n.num_experts_per_tok ?? 1;
    if (topK > experts) fail(where, `"num_experts_per_tok" ${topK} is more than the ${experts} experts ("${expertKey}")`);
    const groups = n.n_group ?? 1;
    const topGroups = n.topk_group ?? 1;
    if (experts % groups !== 0) fail(where, `"n_group" ${groups} does not divide the ${experts} experts ("${expertKey}")`);
    if (topGroups > groups) fail(where, `"topk_group" ${topGroups} is more than "n_group" ${groups}`);
    if (topK > topGroups * (experts / groups)) fail(where, `"num_experts_per_tok" ${topK} is more than the ${topGroups * (experts / groups)} experts in the "topk_group" ${topGroups} chosen groups`);
  }
  const layers = n.num_hidden_layers;
  if (layers !== undefined && layers * Math.max(experts, 1) > MAX_LAYER_EXPERTS) {
    fail(where, `${layers} layers × ${experts} experts is more than ${MAX_LAYER_EXPERTS} expert tensors per projection`);
  }
  if (n.first_k_dense_replace !== undefined && layers !== undefined && n.first_k_dense_replace > layers) {
    fail(where, `"first_k_dense_replace" ${n.first_k_dense_replace} is more than "num_hidden_layers" ${layers}`);
  }
}

/** Token ids index the embedding: a tokenizer with more ids than its rows would read past it. */
export function checkTokenizerFits(tokenizerVocab: number, table: { entries: ReadonlyArray<{ role: string; shape: readonly number[] }> }, dir: string): void {
  const rows = table.entries.find((e) => e.role === 'embed')?.shape[0];
  if (rows !== undefined && tokenizerVocab > rows) {
    throw new CheckpointError(dir, `the tokenizer has ${tokenizerVocab} ids but the embedding (config.json vocab_size) has ${rows} rows`);
  }
}

/**
 * The model directory's other files, checked before long work starts (quantize copies them into
 * its output, inspect vouches for them): the tokenizer loads (special tokens, regexes, reserved
 * counts), fits the embedding, its chat template renders a probe conversation to something under
 * the step budget, and generation_config.json's sampling values are in range.
 */
export function validateModelFiles(dir: string, table: Parameters<typeof checkTokenizerFits>[1]): void {
  try {
    modelFiles(dir, table);
  } catch (e) {
    throw CheckpointError.wrap(e, dir);
  }
}

function modelFiles(dir: string, table: Parameters<typeof checkTokenizerFits>[1]): void {
  generationDefaults(dir);
  if (!['tiktoken.model', 'tokenizer.json'].some((f) => existsSync(join(dir, f)))) return;
  const tok = loadTokenizer(dir);
  checkTokenizerFits(tok.vocabSize, table, dir);
  if (!tok.hasChatTemplate) return;
  const rendered = tok.applyChatTemplate([{ role: 'user', content: 'hello' }], { addGenerationPrompt: true });
  if (rendered.ids.length === 0) throw new CheckpointError(dir, 'the chat template renders a conversation as nothing (no tokens)');
}

/** The whole pass for a model directory or HF id: config.json through the tensor table, then its other files. */
export function validateModelDir(arg: string): void {
  const dir = resolveModelPath(arg);
  const where = join(dir, 'config.json');
  validateModelFiles(dir, tensorTable(readJson(where), where));
}

// `mlxk synth ARCH|CONFIG OUT`: write a random-weight checkpoint of any
// architecture and size (tests, benchmarks, and conversions of formats whose
// real checkpoints are terabytes).
import { existsSync, readdirSync } from 'node:fs';
import type { Command } from 'commander';
import type { JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { SUPPORTED_MODEL_TYPES } from '../models/registry.js';
import { synthDefaultConfig } from '../models/synthDefaults.js';
import { type SynthFormat, synthesize } from '../models/synth.js';
import { repeatable } from './commonOptions.js';
import { resolveConfigArg } from './modelArg.js';
import { ProgressBar } from './progress.js';
import { humanBytes, humanCount, parseBytes } from './units.js';

interface SynthFlags {
  layers?: string;
  experts?: string;
  hidden?: string;
  intermediate?: string;
  moeIntermediate?: string;
  vocab?: string;
  heads?: string;
  kvHeads?: string;
  context?: string;
  set?: string[];
  format: string;
  int4Group?: string;
  int4Levels?: string;
  dtype?: string;
  seed: string;
  std: string;
  shardSize: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function setPath(cfg: JsonObject, path: string, value: unknown): void {
  const keys = path.split('.');
  let obj = cfg;
  for (const k of keys.slice(0, -1)) {
    if (obj[k] === null || typeof obj[k] !== 'object') obj[k] = {};
    obj = obj[k] as JsonObject;
  }
  obj[keys[keys.length - 1]!] = value;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new MlxkError(`${flag}: expected a positive integer, got "${v}"`);
  return n;
}

export function synthConfig(arch: string, flags: SynthFlags): JsonObject {
  const base = synthDefaultConfig(arch) ?? resolveConfigArg(arch).config;
  const cfg = structuredClone(base);
  // Kimi-K2.5 keeps the text model under text_config.
  const text = (cfg.text_config && typeof cfg.text_config === 'object' ? cfg.text_config : cfg) as JsonObject;
  const moe = text.model_type === 'qwen3_moe' || cfg.model_type === 'qwen3_moe';
  // A dense architecture would carry the key into config.json, where calibration and planning read it as experts.
  if (text.num_experts_per_tok === undefined) {
    for (const [v, flag] of [[flags.experts, '--experts'], [flags.moeIntermediate, '--moe-intermediate']] as const) {
      if (v !== undefined) throw new MlxkError(`${flag}: ${String(text.model_type ?? arch)} has no routed experts; leave it out`);
    }
  }
  const set = (key: string, v: string | undefined, flag: string) => {
    if (v !== undefined) text[key] = positiveInt(v, flag);
  };
  set('num_hidden_layers', flags.layers, '--layers');
  set(moe ? 'num_experts' : 'n_routed_experts', flags.experts, '--experts');
  set('hidden_size', flags.hidden, '--hidden');
  set('intermediate_size', flags.intermediate, '--intermediate');
  set('moe_intermediate_size', flags.moeIntermediate, '--moe-intermediate');
  set('vocab_size', flags.vocab, '--vocab');
  set('num_attention_heads', flags.heads, '--heads');
  set('num_key_value_heads', flags.kvHeads ?? (text.kv_lora_rank !== undefined ? flags.heads : undefined), '--kv-heads');
  set('max_position_embeddings', flags.context, '--context');
  if (text.num_experts_per_tok !== undefined && flags.experts) {
    text.num_experts_per_tok = Math.min(Number(text.num_experts_per_tok), positiveInt(flags.experts, '--experts'));
  }
  if (flags.dtype) {
    const map: Record<string, string> = { bf16: 'bfloat16', f16: 'float16', f32: 'float32' };
    if (!map[flags.dtype]) throw new MlxkError(`--dtype: "${flags.dtype}" is not bf16, f16 or f32`);
    cfg.torch_dtype = map[flags.dtype];
    if (text !== cfg) text.torch_dtype = map[flags.dtype];
  }
  for (const item of flags.set ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new MlxkError(`--set: "${item}" is not key=value (dotted keys reach nested objects)`);
    let value: unknown = item.slice(eq + 1);
    try {
      value = JSON.parse(value as string);
    } catch {
      // a bare string
    }
    setPath(cfg, item.slice(0, eq), value);
  }
  return cfg;
}

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('write a random-weight checkpoint (Hugging Face layout) of any supported architecture and size')
    .argument('<arch>', `model_type (${SUPPORTED_MODEL_TYPES.join(', ')}), shipped name (kimi-k2.5, …) or config.json to start from`)
    .argument('<out>', 'output directory')
    .option('--layers <n>', 'num_hidden_layers')
    .option('--experts <n>', 'routed experts (n_routed_experts / num_experts)')
    .option('--hidden <n>', 'hidden_size')
    .option('--intermediate <n>', 'intermediate_size (dense MLP)')
    .option('--moe-intermediate <n>', 'moe_intermediate_size')
    .option('--vocab <n>', 'vocab_size')
    .option('--heads <n>', 'num_attention_heads')
    .option('--kv-heads <n>', 'num_key_value_heads')
    .option('--context <n>', 'max_position_embeddings')
    .option('--set <key=value>', 'any other config value, JSON-parsed; dotted keys for nested ones (repeatable)', repeatable)
    .option('--format <f>', 'float, fp8 (128×128 block scales on linear layers, as DeepSeek-V3/Kimi-K2), int4 (compressed-tensors on routed experts, as Kimi-K2.5) or nvfp4 (routed experts)', 'float')
    .option('--int4-group <n>', 'with --format int4: group size, 32 (Kimi-K2.5) or 128 (GPTQ w4a16 releases, GSQ)', '32')
    .option('--int4-levels <n>', 'with --format int4: codes used per group, 16, or 4 / 8 for a 2-bit / 3-bit model in the 4-bit container (GSQ: codes 6..9)', '16')
    .option('--dtype <d>', 'bf16, f16 or f32 (default: the config\'s)')
    .option('--seed <n>', 'random seed', '0')
    .option('--std <x>', 'standard deviation of linear weights', '0.02')
    .option('--shard-size <size>', 'largest shard', '5GiB')
    .option('-f, --force', 'write into a non-empty directory')
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'no progress bar')
    .action((arch: string, out: string, flags: SynthFlags) => {
      if (!['float', 'fp8', 'int4', 'nvfp4'].includes(flags.format)) throw new MlxkError(`--format: "${flags.format}" is not float, fp8, int4 or nvfp4`);
      if (existsSync(out) && readdirSync(out).length > 0 && !flags.force) throw new MlxkError(`${out}: is not empty`, 'choose a new directory or pass --force');
      const config = synthConfig(arch, flags);
      const bar = new ProgressBar('synth', process.stderr, !flags.quiet);
      const report = synthesize({
        config, out, format: flags.format as SynthFormat, seed: Number(flags.seed), std: Number(flags.std),
        maxShardBytes: parseBytes(flags.shardSize, '--shard-size'),
        int4: { groupSize: Number(flags.int4Group ?? 32), levels: Number(flags.int4Levels ?? 16) },
        onProgress: (done, total) => bar.update({ done, total, detail: `${humanBytes(done)}/${humanBytes(total)}` }),
      });
      bar.done();
      if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(`wrote ${out}: ${humanCount(report.params)} parameters, ${report.tensors} tensors in ${report.files.length} file(s), ${humanBytes(report.bytes)}\n`);
    });
}

// `mlxk generate [MODEL]`: one completion, streamed to stdout (stats on stderr), or one
// JSON object with --json.
import type { Command } from 'commander';
import { BUNDLED_MODEL, LanguageModel, type PromptInput } from '../engine/languageModel.js';
import type { GenerationResult } from '../engine/generate.js';
import { MlxkError } from '../io/errors.js';
import { totalmem } from 'node:os';
import { type BackendName, defaultBackend } from '../backend/index.js';
import { Checkpoint } from '../io/checkpoint.js';
import { footprintOf, residentWeightBytes } from '../models/footprint.js';
import { backendArg } from './commonOptions.js';
import { addSampleOptions, generateOptionsFrom, type SampleFlags } from './sampleArgs.js';
import { humanBytes } from './units.js';

interface GenerateFlags extends SampleFlags {
  prompt?: string;
  promptIds?: string;
  raw?: boolean;
  system?: string;
  json?: boolean;
}

function parseIds(text: string): number[] {
  const ids = text.split(',').map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s))) throw new MlxkError(`--prompt-ids must be comma-separated token ids, got "${text}"`);
  return ids.map(Number);
}

function promptFrom(flags: GenerateFlags): PromptInput {
  if ((flags.prompt === undefined) === (flags.promptIds === undefined)) throw new MlxkError('give the prompt as --prompt TEXT or --prompt-ids 1,2,3 (one of them)');
  if (flags.promptIds !== undefined) {
    if (flags.raw || flags.system !== undefined) throw new MlxkError('--raw and --system apply to --prompt text, not to --prompt-ids');
    return { ids: parseIds(flags.promptIds) };
  }
  return { prompt: flags.prompt!, raw: flags.raw ?? false, ...(flags.system !== undefined ? { system: flags.system } : {}) };
}

export function statsLine(r: GenerationResult): string {
  const s = r.stats;
  return [
    `prompt: ${s.promptTokens} tokens, ${s.promptTokensPerSecond.toFixed(1)} tokens/s${s.cachedTokens ? ` (${s.cachedTokens} cached)` : ''}`,
    `generation: ${s.generatedTokens} tokens, ${s.generationTokensPerSecond.toFixed(1)} tokens/s, first token after ${(s.timeToFirstTokenSeconds * 1000).toFixed(0)} ms`,
    `finish: ${r.finishReason}; peak memory ${humanBytes(s.peakRssBytes)}`,
  ].join('\n');
}

export function resultJson(r: GenerationResult, lm: LanguageModel): Record<string, unknown> {
  return {
    model: lm.dir,
    backend: lm.model.ops.name,
    text: lm.hasTokenizer ? r.text : null,
    prompt_ids: r.promptIds,
    generated_ids: r.ids,
    finish_reason: r.finishReason,
    stopped_by: r.stoppedBy,
    seed: r.seed,
    stats: {
      prompt_tokens: r.stats.promptTokens,
      generated_tokens: r.stats.generatedTokens,
      prompt_tokens_per_second: r.stats.promptTokensPerSecond,
      generation_tokens_per_second: r.stats.generationTokensPerSecond,
      time_to_first_token_seconds: r.stats.timeToFirstTokenSeconds,
      total_seconds: r.stats.totalSeconds,
      load_seconds: lm.loadSeconds,
      peak_rss_bytes: r.stats.peakRssBytes,
      kv_cache_bytes: r.stats.cacheBytes,
    },
  };
}

/** Refuses before loading a model whose weights on `backend` would not fit in this machine's memory. */
export function checkFits(model: string, backend: BackendName, memoryBytes = totalmem()): void {
  const ckpt = Checkpoint.open(model);
  try {
    const need = residentWeightBytes(ckpt, footprintOf(backend));
    if (need <= 0.9 * memoryBytes) return;
    const stored = residentWeightBytes(ckpt, 'stored');
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
    throw new MlxkError(
      `${ckpt.dir}: its weights take ${gib(need)} on the ${backend} backend, more than 90% of this machine's ${gib(memoryBytes)}`,
      backend === 'mlx' && stored < need ? `the native backend (the default: drop --backend mlx) maps them as stored, ${gib(stored)}` : 'use a smaller quantization',
    );
  } finally {
    ckpt.close();
  }
}

export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('generate text from a prompt (chat template applied unless --raw); streams to stdout')
    .argument('[model]', 'model directory or HF cache id (default: the bundled models/tiny-kimi)')
    .option('--prompt <text>', 'the prompt text')
    .option('--prompt-ids <ids>', 'the prompt as comma-separated token ids, used as they are')
    .option('--raw', 'do not apply the chat template (BOS is still added when the tokenizer has one)')
    .option('--system <text>', 'system message for the chat template')
    .option('--json', 'print one JSON object: text, prompt and generated ids, finish reason, stats');
  addSampleOptions(cmd, '256').action(async (model: string | undefined, flags: GenerateFlags) => {
    const input = promptFrom(flags);
    const backend = backendArg(flags.backend);
    checkFits(model ?? BUNDLED_MODEL, backend ?? defaultBackend());
    const lm = await LanguageModel.load(model ?? BUNDLED_MODEL, { backend });
    const opts = generateOptionsFrom(flags, lm.dir);
    if (flags.json) {
      const r = await lm.generate(input, opts);
      process.stdout.write(`${JSON.stringify(resultJson(r, lm), null, 2)}\n`);
      return;
    }
    const r = await lm.generate(input, opts, (e) => {
      if (lm.hasTokenizer) process.stdout.write(e.text);
      else if (e.id !== null) process.stdout.write(`${e.index ? ',' : ''}${e.id}`);
    });
    process.stdout.write('\n');
    process.stderr.write(`${statsLine(r)}\n`);
  });
}

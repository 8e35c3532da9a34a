// Flags shared by `generate` and `chat`: sampling, length, stops and the backend.
// Sampling defaults come from the model's generation_config.json when it sets them.
import type { Command } from 'commander';
import type { GenerateOptions } from '../engine/generate.js';
import { MlxkError } from '../io/errors.js';
import { generationDefaults } from '../models/generationConfig.js';
import { addBackendOption, repeatable } from './commonOptions.js';

export interface SampleFlags {
  maxTokens: string;
  temp?: string;
  topP?: string;
  topK?: string;
  minP?: string;
  repetitionPenalty?: string;
  seed?: string;
  stop?: string[];
  backend?: string;
}

export function addSampleOptions(cmd: Command, maxTokens: string): Command {
  cmd
    .option('-m, --max-tokens <n>', 'most tokens to generate', maxTokens)
    .option('--temp <t>', 'sampling temperature; 0 is greedy (default: generation_config.json, else 0.7)')
    .option('--top-p <p>', 'nucleus sampling: keep the most likely tokens up to this probability mass (default: generation_config.json, else 1)')
    .option('--top-k <k>', 'keep only the k most likely tokens (0 = off)')
    .option('--min-p <p>', 'drop tokens below p × the most likely one (0 = off)')
    .option('--repetition-penalty <r>', 'penalize recently generated tokens (1 = off)')
    .option('--seed <s>', 'seed for sampling; the same seed repeats a run')
    .option('--stop <text>', 'stop when this text appears (repeatable)', repeatable);
  return addBackendOption(cmd);
}

function number(flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new MlxkError(`${flag} must be ${integer ? 'an integer' : 'a number'}, got "${v}"`);
  return n;
}

/** Generation options from the flags, filling unset sampling values from generation_config.json. */
export function generateOptionsFrom(flags: SampleFlags, modelDir: string): GenerateOptions {
  const gen = generationDefaults(modelDir);
  const maxTokens = number('--max-tokens', flags.maxTokens, true)!;
  const opts: GenerateOptions = {
    maxTokens,
    temperature: number('--temp', flags.temp) ?? gen.temperature ?? 0.7,
    topP: number('--top-p', flags.topP) ?? gen.topP ?? 1,
    topK: number('--top-k', flags.topK, true) ?? gen.topK ?? 0,
    minP: number('--min-p', flags.minP) ?? 0,
    repetitionPenalty: number('--repetition-penalty', flags.repetitionPenalty) ?? gen.repetitionPenalty ?? 1,
    stopStrings: flags.stop ?? [],
  };
  const seed = number('--seed', flags.seed, true);
  if (seed !== undefined) opts.seed = seed;
  return opts;
}

// generation_config.json's sampling defaults, checked where they are read: a bad value is the
// model file's fault and the error names that file, not the flag it stands in for.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '../io/checkpoint.js';
import { CheckpointError } from '../io/errors.js';

export interface GenerationDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  /** do_sample as written (transformers reads false as greedy, whatever temperature says). */
  doSample?: boolean;
}

const FIELDS: Array<[Exclude<keyof GenerationDefaults, 'doSample'>, string, (v: number) => boolean, string]> = [
  ['temperature', 'temperature', (v) => v >= 0 && v <= 100, 'a number in 0..100'],
  ['topP', 'top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'],
  ['topK', 'top_k', (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer'],
  ['repetitionPenalty', 'repetition_penalty', (v) => v > 0 && v <= 100, 'a number in (0, 100]'],
];

/** The sampling defaults of a model directory (none when it has no generation_config.json). */
export function generationDefaults(dir: string): GenerationDefaults {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return {};
  const gen = readJson(path);
  const out: GenerationDefaults = {};
  for (const [key, field, ok, expected] of FIELDS) {
    const v = gen[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new CheckpointError(path, `"${field}" is ${JSON.stringify(v)}; expected ${expected}`);
    out[key] = v;
  }
  if (typeof gen.do_sample === 'boolean') out.doSample = gen.do_sample;
  return out;
}

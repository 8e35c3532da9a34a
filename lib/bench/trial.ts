// One timed run: prefill a prompt, then generate exactly `generate` tokens greedily
// (no stop token can end it early). Time to first token covers the prefill and the
// first sample; generation speed counts only the tokens after the first, over the time
// after the first (mlx_lm.benchmark counts the first too, whose compute was prefill).
import { Sampler } from '../engine/sampler.js';
import { DEFAULT_PREFILL_CHUNK, Sequence } from '../engine/sequence.js';
import type { CausalLM } from '../models/model.js';
import type { MemoryProbe } from './memory.js';
import { eventLoopTurns } from './turns.js';

/** Seconds from an arbitrary origin. */
export type Clock = () => number;

export const wallClock: Clock = () => performance.now() / 1000;

export interface TrialTiming {
  promptTokens: number;
  generatedTokens: number;
  timeToFirstTokenSeconds: number;
  /** Prompt tokens / time to first token. */
  promptTokensPerSecond: number;
  /** (generated − 1) / seconds after the first token; null with a single token. */
  generationTokensPerSecond: number | null;
  totalSeconds: number;
  peakMemoryBytes: number;
}

/**
 * Runs one trial; null when `signal` aborts it (checked between prefill chunks and
 * decode steps, so Ctrl-C does not wait for a long prompt; a cut trial is no measurement).
 */
export async function runTrial(model: CausalLM, prompt: readonly number[], generate: number, clock: Clock, memory: MemoryProbe, signal?: AbortSignal): Promise<TrialTiming | null> {
  if (!Number.isInteger(generate) || generate < 1) throw new Error(`a trial generates at least one token, got ${generate}`);
  if (prompt.length === 0) throw new Error('a trial needs at least one prompt token');
  memory.reset();
  const turn = eventLoopTurns();
  const sampler = new Sampler({ temperature: 0 });
  const seq = new Sequence(model);
  const started = clock();
  let logits: Float32Array = new Float32Array(0);
  for (let at = 0; at < prompt.length; at += DEFAULT_PREFILL_CHUNK) {
    await turn();
    if (signal?.aborted) return null;
    logits = await seq.prefill(prompt.slice(at, at + DEFAULT_PREFILL_CHUNK));
    memory.sample();
  }
  let id = sampler.sample(logits);
  const first = clock();
  for (let n = 1; n < generate; n++) {
    await turn();
    if (signal?.aborted) return null;
    logits = await seq.decode(id);
    id = sampler.sample(logits);
    memory.sample();
  }
  const ended = clock();
  const ttft = first - started;
  const after = ended - first;
  return {
    promptTokens: prompt.length,
    generatedTokens: generate,
    timeToFirstTokenSeconds: ttft,
    promptTokensPerSecond: prompt.length / ttft,
    generationTokensPerSecond: generate > 1 ? (generate - 1) / after : null,
    totalSeconds: ended - started,
    peakMemoryBytes: memory.peak(),
  };
}

// `mlxk bench`: prompt and generation throughput per size, per model, repeated, as
// mlx_lm.benchmark measures it but with the first token out of generation speed, time
// to first token reported on its own and peak memory reset per trial. Models run one
// after another (a huge model leaves no room for a second), each with a short warm-up.
import type { CausalLM } from '../models/model.js';
import { Rng } from '../models/synth.js';
import { collectGarbage, type MemoryProbe } from './memory.js';
import { type Spread, spread } from './stats.js';
import { type Clock, runTrial, type TrialTiming } from './trial.js';

export interface BenchSettings {
  promptSizes: number[];
  genSizes: number[];
  /** Prompt length of the generation trials. */
  genPrompt: number;
  repetitions: number;
  /** Seed of the random prompt tokens. */
  seed: number;
}

export interface BenchModel {
  /** Column name. */
  label: string;
  path: string;
  /** Bytes of weights on disk and bits per weight, when known. */
  bytes?: number;
  bitsPerWeight?: number;
  load(): Promise<{ model: CausalLM; loadSeconds: number; release(): Promise<void> }>;
}

/** One size's trials and their summaries, or why it was skipped. */
export interface SizeResult {
  size: number;
  promptTokens: number;
  generatedTokens: number;
  skipped?: string;
  trials: TrialTiming[];
  promptTokensPerSecond?: Spread;
  generationTokensPerSecond?: Spread;
  timeToFirstTokenSeconds?: Spread;
  peakMemoryBytes?: Spread;
}

export interface ModelResult {
  label: string;
  path: string;
  backend: string;
  arch: string;
  maxContext: number;
  bytes?: number;
  bitsPerWeight?: number;
  loadSeconds: number;
  prompt: SizeResult[];
  generation: SizeResult[];
}

export interface BenchResult {
  settings: BenchSettings;
  models: ModelResult[];
  /** True when not every planned trial ran (Ctrl-C, or a report written mid-run). */
  partial: boolean;
  seconds: number;
}

export interface BenchProgress {
  done: number;
  total: number;
  label: string;
  what: string;
}

export interface BenchOptions {
  settings: BenchSettings;
  models: BenchModel[];
  clock: Clock;
  memory: MemoryProbe;
  signal?: AbortSignal;
  onProgress?: (p: BenchProgress) => void;
  /** The results so far, after every trial (to keep a partial run on disk). */
  onTrial?: (sofar: BenchResult) => void;
  /** Skip the warm-up (tests with a stub model). */
  noWarmup?: boolean;
}

/** Random prompt tokens in [0, vocab) from a fixed seed (mlx_lm.benchmark: randint(0, vocab)). */
export function randomTokens(n: number, vocab: number, seed: number): number[] {
  const rng = new Rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(rng.nextU32() % vocab);
  return out;
}

function summarise(r: SizeResult): void {
  const t = r.trials;
  if (t.length === 0) return;
  r.promptTokensPerSecond = spread(t.map((x) => x.promptTokensPerSecond));
  r.timeToFirstTokenSeconds = spread(t.map((x) => x.timeToFirstTokenSeconds));
  r.peakMemoryBytes = spread(t.map((x) => x.peakMemoryBytes));
  const gen = t.map((x) => x.generationTokensPerSecond).filter((x): x is number => x !== null);
  if (gen.length) r.generationTokensPerSecond = spread(gen);
}

/** Trial-equivalents a model will run, for progress: one per repetition per size. */
function trialCount(s: BenchSettings): number {
  return (s.promptSizes.length + s.genSizes.length) * s.repetitions;
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const { settings: s, clock, memory } = o;
  const started = clock();
  const result: BenchResult = { settings: s, models: [], partial: false, seconds: 0 };
  const total = trialCount(s) * o.models.length;
  let done = 0;
  const stop = () => {
    result.partial = Boolean(o.signal?.aborted);
    result.seconds = clock() - started;
    return result;
  };

  for (const bm of o.models) {
    if (o.signal?.aborted) return stop();
    o.onProgress?.({ done, total, label: bm.label, what: 'loading' });
    const loaded = await bm.load();
    const { model } = loaded;
    const mr: ModelResult = {
      label: bm.label, path: bm.path, backend: model.ops.name, arch: model.info.modelType, maxContext: model.info.maxContext,
      ...(bm.bytes !== undefined ? { bytes: bm.bytes } : {}),
      ...(bm.bitsPerWeight !== undefined ? { bitsPerWeight: bm.bitsPerWeight } : {}),
      loadSeconds: loaded.loadSeconds, prompt: [], generation: [],
    };
    result.models.push(mr);
    try {
      const vocab = model.info.vocabSize;
      if (!o.noWarmup) {
        o.onProgress?.({ done, total, label: bm.label, what: 'warm-up' });
        const n = Math.max(1, Math.min(64, Math.floor(model.info.maxContext / 2)));
        if (!(await runTrial(model, randomTokens(n, vocab, s.seed + 1), Math.min(8, model.info.maxContext - n), clock, memory, o.signal))) return stop();
      }
      const rows: [SizeResult[], number, number, string][] = [
        ...s.promptSizes.map((p): [SizeResult[], number, number, string] => [mr.prompt, p, 1, `prompt ${p}`]),
        ...s.genSizes.map((g): [SizeResult[], number, number, string] => [mr.generation, s.genPrompt, g, `generation ${g}`]),
      ];
      for (const [list, promptTokens, generatedTokens, what] of rows) {
        const size = list === mr.prompt ? promptTokens : generatedTokens;
        const r: SizeResult = { size, promptTokens, generatedTokens, trials: [] };
        list.push(r);
        if (promptTokens + generatedTokens > model.info.maxContext) {
          r.skipped = `${promptTokens} prompt + ${generatedTokens} generated tokens exceed the context of ${model.info.maxContext}`;
          done += s.repetitions;
          continue;
        }
        const prompt = randomTokens(promptTokens, vocab, s.seed);
        for (let rep = 0; rep < s.repetitions; rep++) {
          if (o.signal?.aborted) return stop();
          o.onProgress?.({ done, total, label: bm.label, what: `${what} · trial ${rep + 1}/${s.repetitions}` });
          await collectGarbage();
          const t = await runTrial(model, prompt, generatedTokens, clock, memory, o.signal);
          if (!t) return stop();
          r.trials.push(t);
          summarise(r);
          done++;
          o.onTrial?.(stop());
        }
      }
    } finally {
      await loaded.release();
    }
  }
  o.onProgress?.({ done, total, label: '', what: 'done' });
  return stop();
}

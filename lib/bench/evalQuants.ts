// eval-quants: quantize one source with several presets and measure each against it —
// size, bits per weight, perplexity, ΔPPL, KL divergence and top-1 agreement on the
// same windows (one lock-step pass: the source runs once per window for all of them,
// so every quantized model is loaded at once), then decode speed.
import { join } from 'node:path';
import type { CausalLM } from '../models/model.js';
import { Checkpoint } from '../io/checkpoint.js';
import { convert, type ConvertProgress } from '../quant/convert.js';
import type { PrecomputedSource } from '../quant/precomputed.js';
import { collectGarbage, type MemoryProbe } from './memory.js';
import { evaluatePerplexity, type KlStat, type PerplexityResult, type PplStat } from './perplexity.js';
import { type Spread, spread } from './stats.js';
import { randomTokens } from './throughput.js';
import { type Clock, runTrial } from './trial.js';
import type { QuantVariant } from './variants.js';

export interface DecodeSettings {
  prompt: number;
  tokens: number;
  repetitions: number;
}

export interface QuantRow {
  name: string;
  description: string;
  dir: string;
  bytes: number;
  bitsPerWeight: number;
  quantizeSeconds: number;
  perplexity?: PplStat;
  deltaPplPercent?: number;
  kl?: KlStat;
  top1Agreement?: number;
  decodeTokensPerSecond?: Spread;
}

export interface EvalQuantsResult {
  source: { dir: string; bytes: number; bitsPerWeight: number; params: number; perplexity?: PplStat; decodeTokensPerSecond?: Spread };
  rows: QuantRow[];
  perplexity?: Omit<PerplexityResult, 'models' | 'baseline'>;
  decode: DecodeSettings;
  partial: boolean;
}

export type EvalPhase = { phase: 'quantize'; variant: string; index: number; count: number; progress: ConvertProgress } | { phase: 'perplexity'; done: number; total: number } | { phase: 'decode'; round: number; rounds: number; index: number; count: number };

/** A variant's calibration pass (GPTQ / learned rounding), made for one destination and finished with it. */
export interface VariantCalibration {
  source: PrecomputedSource;
  /** Identity of the calibration settings (resume hash of the conversion). */
  id: string;
  /** Lines for the model card. */
  notes: string[];
  /** The conversion is complete (removes the work folder). */
  finish(): void;
  /** The conversion failed (keeps the work folder for a resume). */
  close(): void;
}

export interface EvalQuantsOptions {
  src: string;
  variants: QuantVariant[];
  windows: readonly (readonly number[])[];
  /** Where the quantized models are written (one directory per variant). */
  outDir: string;
  load: (dir: string) => Promise<CausalLM>;
  /**
   * The calibration pass of a variant that quantizes some module with a calibrated method
   * (gptq / learned); undefined for the data-free ones. Without it such variants fail.
   */
  calibrate?: (v: QuantVariant, dst: string) => VariantCalibration | undefined;
  decode: DecodeSettings;
  clock: Clock;
  memory: MemoryProbe;
  signal?: AbortSignal;
  onProgress?: (p: EvalPhase) => void;
}

function dirName(variant: string): string {
  return variant.replace(/[^\w.-]+/g, '-');
}

export async function evalQuants(o: EvalQuantsOptions): Promise<EvalQuantsResult> {
  const ckpt = Checkpoint.open(o.src);
  const srcBytes = ckpt.dataBytes;
  ckpt.close();
  const result: EvalQuantsResult = { source: { dir: o.src, bytes: srcBytes, bitsPerWeight: NaN, params: NaN }, rows: [], decode: o.decode, partial: true };

  for (const [index, v] of o.variants.entries()) {
    if (o.signal?.aborted) return result;
    const dst = join(o.outDir, dirName(v.name));
    const cal = o.calibrate?.(v, dst);
    let r;
    try {
      r = await convert({
        src: o.src, dst, preset: v.preset, force: true,
        ...(cal ? { precomputed: cal.source, precomputedId: cal.id, cardNotes: cal.notes } : {}),
        onProgress: (progress) => o.onProgress?.({ phase: 'quantize', variant: v.name, index, count: o.variants.length, progress }),
      });
    } catch (e) {
      cal?.close();
      throw e;
    }
    cal?.finish();
    result.source.params = r.params;
    result.source.bitsPerWeight = (srcBytes * 8) / r.params;
    result.rows.push({ name: v.name, description: v.preset.description, dir: dst, bytes: r.bytes, bitsPerWeight: r.bitsPerWeight, quantizeSeconds: r.seconds });
  }
  if (o.signal?.aborted) return result;

  const source = await o.load(o.src);
  const models: CausalLM[] = [];
  for (const row of result.rows) models.push(await o.load(row.dir));
  const ppl = await evaluatePerplexity({
    models, baseline: source, windows: o.windows, ...(o.signal ? { signal: o.signal } : {}),
    onWindow: (done, total) => o.onProgress?.({ phase: 'perplexity', done, total }),
  });
  const { models: scores, baseline, ...summary } = ppl;
  result.perplexity = summary;
  result.source.perplexity = baseline!;
  scores.forEach((s, i) => {
    const row = result.rows[i]!;
    row.perplexity = { meanNll: s.meanNll, ppl: s.ppl, se: s.se };
    row.deltaPplPercent = ((s.ppl - baseline!.ppl) / baseline!.ppl) * 100;
    row.kl = s.kl!;
    row.top1Agreement = s.top1Agreement!;
  });
  if (ppl.partial) return result;

  // Rounds over all models (warm-up round first), so a busy moment of a shared machine hits them alike.
  const all = [source, ...models];
  const tps: number[][] = all.map(() => []);
  for (let round = 0; round <= o.decode.repetitions; round++) {
    for (const [index, model] of all.entries()) {
      if (o.signal?.aborted) return result;
      o.onProgress?.({ phase: 'decode', round, rounds: o.decode.repetitions, index, count: all.length });
      await collectGarbage();
      const t = await runTrial(model, randomTokens(o.decode.prompt, model.info.vocabSize, 0), o.decode.tokens, o.clock, o.memory, o.signal);
      if (!t) return result;
      if (round > 0 && t.generationTokensPerSecond !== null) tps[index]!.push(t.generationTokensPerSecond);
    }
  }
  tps.forEach((xs, i) => {
    if (!xs.length) return;
    if (i === 0) result.source.decodeTokensPerSecond = spread(xs);
    else result.rows[i - 1]!.decodeTokensPerSecond = spread(xs);
  });
  result.partial = false;
  return result;
}

// Perplexity over fixed windows (windows.ts) for one or several models, and with a
// baseline the KL divergence and top-1 agreement of each model's next-token
// distributions against the baseline's. All models step through a window in lock-step,
// chunk by chunk, so only one chunk of logits per model is ever held (a Kimi vocabulary
// is 164K wide) and the baseline runs once per window however many models it judges.
import { MlxkError } from '../io/errors.js';
import type { CausalLM } from '../models/model.js';
import { argmax, klDivergence, nll } from './logits.js';
import { perplexityOf, quantile, RunningStats } from './stats.js';
import { eventLoopTurns } from './turns.js';

/** Floats of logits per chunk and model: 8M floats = 32 MB. */
const CHUNK_FLOATS = 8 * 1024 * 1024;

export interface PplStat {
  meanNll: number;
  ppl: number;
  /** Standard error of ppl (delta method over per-token NLL). */
  se: number;
}

export interface KlStat {
  /** Mean KL(baseline ‖ model) per scored position, in nats. */
  mean: number;
  se: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ModelScore extends PplStat {
  /** With a baseline: KL divergence and the fraction of positions whose most likely token agrees. */
  kl?: KlStat;
  top1Agreement?: number;
}

export interface PerplexityResult {
  seqLen: number;
  windows: number;
  windowsPlanned: number;
  scoredTokens: number;
  /** One per model, in the order given. */
  models: ModelScore[];
  baseline?: PplStat;
  seconds: number;
  /** Window tokens run per second, all models (and the baseline) together. */
  tokensPerSecond: number;
  /** True when stopped before every window ran (Ctrl-C); the scores cover the windows done. */
  partial: boolean;
}

export interface PerplexityOptions {
  models: CausalLM[];
  /** Reference model for KL divergence and top-1 agreement (same vocabulary). */
  baseline?: CausalLM;
  windows: readonly (readonly number[])[];
  /** Tokens per forward pass inside a window (default: as many as keep one chunk's logits near 32 MB). */
  chunkTokens?: number;
  /** Stops after the current window. */
  signal?: AbortSignal;
  /** After each window, with the result so far (KL percentiles left out: NaN). */
  onWindow?: (done: number, total: number, sofar: PerplexityResult) => void;
}

/** One model's running sums against the targets and, with a baseline, against its rows. */
class Scorer {
  private readonly nll = new RunningStats();
  private readonly kl = new RunningStats();
  private readonly kls: number[] = [];
  private klMax = 0;
  private agree = 0;

  push(logits: Float32Array, row: number, vocab: number, target: number, base: Float32Array | null): void {
    this.nll.push(nll(logits, row, vocab, target));
    if (!base) return;
    const kl = klDivergence(base, logits, row, vocab);
    this.kl.push(kl);
    this.kls.push(kl);
    this.klMax = Math.max(this.klMax, kl);
    if (argmax(base, row, vocab) === argmax(logits, row, vocab)) this.agree++;
  }

  get scored(): number {
    return this.nll.n;
  }

  score(withBaseline: boolean, percentiles: boolean): ModelScore {
    const s: ModelScore = { meanNll: this.nll.mean, ...perplexityOf(this.nll) };
    if (withBaseline) {
      const q = (p: number) => (percentiles ? quantile(this.kls, p) : NaN);
      s.kl = { mean: this.kl.mean, se: this.kl.standardError, p95: q(0.95), p99: q(0.99), max: this.kl.n ? this.klMax : NaN };
      s.top1Agreement = this.kl.n ? this.agree / this.kl.n : NaN;
    }
    return s;
  }
}

type Cache = ReturnType<CausalLM['newCache']>;

/** Logits [T, vocab] of one chunk run on `model` after what its cache holds. */
async function chunkLogits(model: CausalLM, cache: Cache, ids: readonly number[]): Promise<{ logits: Float32Array; vocab: number }> {
  const { ops } = model;
  const t = model.forward(ids, cache, { allLogits: true });
  ops.evaluate(t, ...cache.tensors());
  const vocab = ops.shape(t)[1]!;
  const logits = ops.read(t);
  await ops.reclaim();
  return { logits, vocab };
}

function check(models: CausalLM[], windows: readonly (readonly number[])[], seqLen: number): void {
  const vocab = models[0]!.info.vocabSize;
  for (const m of models) {
    if (m.info.vocabSize !== vocab) throw new MlxkError(`models with different vocabularies (${vocab} and ${m.info.vocabSize}) cannot be compared; KL divergence needs the same tokenizer`);
    if (seqLen > m.info.maxContext) throw new MlxkError(`--seq-len ${seqLen} is longer than the model's context (${m.info.maxContext})`);
  }
  for (const w of windows) {
    const bad = w.find((id) => id < 0 || id >= vocab);
    if (bad !== undefined) throw new MlxkError(`token id ${bad} of the data is outside the model's vocabulary (0..${vocab - 1})`, 'the data must be tokenized with this model\'s tokenizer');
  }
}

export async function evaluatePerplexity(o: PerplexityOptions): Promise<PerplexityResult> {
  const { models, baseline, windows } = o;
  if (models.length === 0) throw new Error('no models to evaluate');
  if (windows.length === 0) throw new MlxkError('no windows to evaluate');
  const seqLen = windows[0]!.length;
  const all = baseline ? [baseline, ...models] : models;
  check(all, windows, seqLen);
  const chunk = Math.max(1, Math.min(seqLen, o.chunkTokens ?? Math.floor(CHUNK_FLOATS / models[0]!.info.vocabSize)));
  const started = performance.now();
  const scorers = models.map(() => new Scorer());
  const baseScorer = new Scorer();
  let done = 0;

  const result = (partial: boolean, percentiles: boolean): PerplexityResult => {
    const seconds = (performance.now() - started) / 1000;
    return {
      seqLen, windows: done, windowsPlanned: windows.length, scoredTokens: baseScorer.scored || scorers[0]!.scored,
      models: scorers.map((s) => s.score(Boolean(baseline), percentiles)),
      ...(baseline ? { baseline: baseScorer.score(false, false) } : {}),
      seconds, tokensPerSecond: seconds > 0 ? (done * seqLen * all.length) / seconds : 0, partial,
    };
  };

  const turn = eventLoopTurns();
  for (const win of windows) {
    await turn();
    if (o.signal?.aborted) return result(true, true);
    const caches = models.map((m) => m.newCache());
    const baseCache = baseline?.newCache();
    for (let start = 0; start < seqLen; start += chunk) {
      const ids = win.slice(start, start + chunk);
      // Row r predicts the token at window position start + r + 1; the window's last row predicts nothing.
      const rows = Math.min(ids.length, seqLen - 1 - start);
      const base = baseline ? await chunkLogits(baseline, baseCache!, ids) : null;
      if (base) for (let r = 0; r < rows; r++) baseScorer.push(base.logits, r, base.vocab, win[start + r + 1]!, null);
      for (let i = 0; i < models.length; i++) {
        const m = await chunkLogits(models[i]!, caches[i]!, ids);
        for (let r = 0; r < rows; r++) scorers[i]!.push(m.logits, r, m.vocab, win[start + r + 1]!, base?.logits ?? null);
      }
    }
    done++;
    o.onWindow?.(done, windows.length, result(false, false));
  }
  return result(false, true);
}

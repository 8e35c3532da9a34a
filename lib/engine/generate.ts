// The decode loop: prefill the prompt, then sample, stream and feed tokens until a
// stop token, a stop string, max tokens, the end of the context or an abort. Built
// from Sequence steps and a Sampler, so it works on any backend.
import { MlxkError } from '../io/errors.js';
import { Sampler, type SamplingOptions, type TokenLogprobs, tokenLogprobs } from './sampler.js';
import type { Sequence } from './sequence.js';
import { StopStrings } from './stop.js';

/** Least interval between two readings of the process's RSS (peak memory in the stats). */
const RSS_SAMPLE_MS = 100;

/** Turns token ids into text incrementally (never splitting a UTF-8 character). */
export interface TokenDecoder {
  push(id: number): string;
  flush(): string;
}

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Ids that end generation (EOS, end-of-turn); they are not part of the output. */
  stopTokens?: readonly number[];
  /** Strings that end generation; the text stops before them. Needs `decoder`. */
  stopStrings?: readonly string[];
  /** Detokenizer for `text`; without one, only ids are produced. */
  decoder?: TokenDecoder;
  prefillChunk?: number;
  signal?: AbortSignal;
  /** Report each token's log-probability and this many most likely alternatives. */
  logprobs?: number;
}

export interface TokenEvent {
  /** The sampled token; null for the last event, which only releases held-back text. */
  id: number | null;
  /** Text that became final with it (may be empty: a partial character or held for a stop string). */
  text: string;
  /** 0-based index among generated tokens. */
  index: number;
  /** With `logprobs`: the token's log-probability and the top alternatives. */
  logprobs?: TokenLogprobs;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationStats {
  /** Prompt tokens run through the model for this request. */
  promptTokens: number;
  /** Prompt tokens already in the sequence's cache (reused, not recomputed). */
  cachedTokens: number;
  generatedTokens: number;
  /** Prompt tokens / (seconds from the start to the first sampled token). */
  promptTokensPerSecond: number;
  /** Tokens after the first / seconds after the first (0 with fewer than two tokens). */
  generationTokensPerSecond: number;
  timeToFirstTokenSeconds: number;
  totalSeconds: number;
  /** Largest resident set size of the process seen during the request. */
  peakRssBytes: number;
  /** float32 bytes held by this request's cache at the end. */
  cacheBytes: number;
}

export interface GenerationResult {
  /** The whole prompt: cached tokens, then the ones run for this request. */
  promptIds: number[];
  /** Generated ids (a stop token excluded). */
  ids: number[];
  text: string;
  finishReason: FinishReason;
  /** What stopped it: a stop token id or stop string. */
  stoppedBy: { token: number } | { string: string } | null;
  seed: number;
  stats: GenerationStats;
}

/**
 * Runs `promptIds` after the tokens already in `seq`, then streams generated tokens; the
 * generator's return value is the result. Breaking out of the loop stops generation
 * after the current step.
 */
export async function* generateStream(seq: Sequence, promptIds: readonly number[], opts: GenerateOptions = {}): AsyncGenerator<TokenEvent, GenerationResult> {
  const maxTokens = opts.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new MlxkError(`max tokens must be a non-negative integer, got ${maxTokens}`);
  if (opts.stopStrings?.length && !opts.decoder) throw new MlxkError('stop strings need a tokenizer to turn tokens into text');
  const sampler = new Sampler(opts);
  const stopTokens = new Set(opts.stopTokens ?? []);
  const stops = new StopStrings(opts.stopStrings ?? []);
  const cached = [...seq.tokens];
  const started = performance.now();
  let peakRss = process.memoryUsage.rss();
  // Reading RSS costs up to ~1 ms once a WASM tokenizer has reserved its memory (Linux reads
  // /proc/self/stat) — more than a decode step of a small model — so it is sampled at most
  // every RSS_SAMPLE_MS, and once more at the end.
  let rssAt = performance.now();
  const sampleRss = (force = false) => {
    const now = performance.now();
    if (!force && now - rssAt < RSS_SAMPLE_MS) return;
    rssAt = now;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  };

  const ids: number[] = [];
  let text = '';
  let finishReason: FinishReason = 'length';
  let stoppedBy: GenerationResult['stoppedBy'] = null;
  let firstAt = 0;
  let logits = maxTokens > 0 ? await seq.prefill(promptIds, opts.prefillChunk) : null;
  sampleRss(true);
  while (logits && ids.length < maxTokens) {
    if (opts.signal?.aborted) {
      finishReason = 'abort';
      break;
    }
    const id = sampler.sample(logits, seq.tokens, ids);
    if (ids.length === 0) firstAt = performance.now();
    if (stopTokens.has(id)) {
      finishReason = 'stop';
      stoppedBy = { token: id };
      break;
    }
    ids.push(id);
    const r = stops.push(opts.decoder ? opts.decoder.push(id) : '');
    text += r.text;
    yield { id, text: r.text, index: ids.length - 1, ...(opts.logprobs !== undefined ? { logprobs: tokenLogprobs(logits, id, opts.logprobs) } : {}) };
    if (r.stopped !== null) {
      finishReason = 'stop';
      stoppedBy = { string: r.stopped };
      break;
    }
    if (ids.length >= maxTokens || seq.remaining < 1) break;
    logits = await seq.decode(id);
    sampleRss();
  }
  if (stoppedBy === null) {
    const tail = stops.push(opts.decoder ? opts.decoder.flush() : '').text + stops.flush();
    if (tail) {
      text += tail;
      yield { id: null, text: tail, index: ids.length };
    }
  }
  const ended = performance.now();
  sampleRss(true);
  const promptSeconds = ((firstAt || ended) - started) / 1000;
  const afterFirst = firstAt ? (ended - firstAt) / 1000 : 0;
  return {
    promptIds: [...cached, ...promptIds],
    ids,
    text,
    finishReason,
    stoppedBy,
    seed: sampler.seed,
    stats: {
      promptTokens: promptIds.length,
      cachedTokens: cached.length,
      generatedTokens: ids.length,
      promptTokensPerSecond: promptSeconds > 0 ? promptIds.length / promptSeconds : 0,
      generationTokensPerSecond: ids.length > 1 && afterFirst > 0 ? (ids.length - 1) / afterFirst : 0,
      timeToFirstTokenSeconds: firstAt ? (firstAt - started) / 1000 : 0,
      totalSeconds: (ended - started) / 1000,
      peakRssBytes: peakRss,
      cacheBytes: seq.cache.bytes,
    },
  };
}

/** Runs generation to the end, calling `onToken` for each streamed event. */
export async function generate(seq: Sequence, promptIds: readonly number[], opts: GenerateOptions = {}, onToken?: (e: TokenEvent) => void): Promise<GenerationResult> {
  const it = generateStream(seq, promptIds, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    onToken?.(r.value);
  }
}

// Continuous batching at the model: every step asked of a model before the event loop's next
// turn (the scheduler starts all active requests' steps together) runs as one forwardBatch, so
// the weights are read once for all of them; a step asked later joins the next batch. A lone
// caller (mlxk generate) is a batch of one, on the same path.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { BatchItem, CausalLM } from '../models/model.js';
import type { KvCache } from './kvCache.js';

/**
 * Tokens one batch may run. A forward pass holds the event loop, and eight clients' 512-token
 * prompt chunks in one batch held it for seconds at load 13–17 (/health median 404 ms, max 10.9 s
 * in benchmarks/results/soak.md); past this, steps wait for the next batch, one turn of the loop
 * later. A default prefill chunk plus 64 decoding streams fits; a batch's first step always runs.
 */
let maxBatchTokens = 512 + 64; // sequence.ts's DEFAULT_PREFILL_CHUNK (a cycle to import here)

/** Sets the batch token budget (benchmarks/loop-delay.ts compares settings); returns the old one. */
export function setMaxBatchTokens(n: number): number {
  if (!(n >= 1)) throw new Error(`the batch token budget must be at least 1, got ${n}`);
  const old = maxBatchTokens;
  maxBatchTokens = n;
  return old;
}

interface Pending {
  ids: readonly number[];
  cache: KvCache;
  read: boolean;
  resolve: (logits: Float32Array) => void;
  reject: (error: unknown) => void;
}

export class StepBatcher {
  private pending: Pending[] = [];
  private flushing = false;

  constructor(private readonly model: CausalLM) {}

  /** Runs `ids` over `cache` in the next batch; the last token's logits (empty unless `read`). */
  step(cache: KvCache, ids: readonly number[], read: boolean): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ ids, cache, read, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        await nextTurn();
        // One cache appears once per batch; a second step on it waits for the next, and so do
        // steps past the token budget.
        const seen = new Set<KvCache>();
        const batch: Pending[] = [];
        let tokens = 0;
        this.pending = this.pending.filter((p) => {
          if (seen.has(p.cache) || (batch.length > 0 && tokens + p.ids.length > maxBatchTokens)) return true;
          seen.add(p.cache);
          batch.push(p);
          tokens += p.ids.length;
          return false;
        });
        await this.run(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    const { ops, info } = this.model;
    let rows: Float32Array;
    try {
      const items: BatchItem[] = batch.map((p) => ({ ids: p.ids, cache: p.cache }));
      const logits = this.model.forwardBatch(items);
      ops.evaluate(logits, ...batch.flatMap((p) => p.cache.tensors()));
      rows = batch.some((p) => p.read) ? ops.read(logits) : new Float32Array(0);
      await ops.reclaim();
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    const V = info.vocabSize;
    // Views of the one copy read out (each sequence its own rows): a copy per sequence cost as much
    // again, page faults included, at B = 8 (132 KB of tiny-kimi's logits, 1 MB at a 32K vocabulary).
    batch.forEach((p, i) => p.resolve(p.read ? rows.subarray(i * V, (i + 1) * V) : new Float32Array(0)));
  }
}

const batchers = new WeakMap<CausalLM, StepBatcher>();

/** The model's batcher (one per loaded model). */
export function batcherFor(model: CausalLM): StepBatcher {
  let b = batchers.get(model);
  if (!b) batchers.set(model, (b = new StepBatcher(model)));
  return b;
}

// Continuous batching at the model: every step asked of a model before the event loop's next
// turn (the scheduler starts all active requests' steps together) runs as one forwardBatch, so
// the weights are read once for all of them; a step asked later joins the next batch. A lone
// caller (mlxk generate) is a batch of one, on the same path.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { BatchItem, CausalLM } from '../models/model.js';
import type { KvCache } from './kvCache.js';

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
        // One cache appears once per batch; a second step on it waits for the next.
        const seen = new Set<KvCache>();
        const batch: Pending[] = [];
        this.pending = this.pending.filter((p) => (seen.has(p.cache) ? true : (seen.add(p.cache), batch.push(p), false)));
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
    batch.forEach((p, i) => p.resolve(p.read ? rows.slice(i * V, (i + 1) * V) : new Float32Array(0)));
  }
}

const batchers = new WeakMap<CausalLM, StepBatcher>();

/** The model's batcher (one per loaded model). */
export function batcherFor(model: CausalLM): StepBatcher {
  let b = batchers.get(model);
  if (!b) batchers.set(model, (b = new StepBatcher(model)));
  return b;
}

// The batch token budget (lib/engine/batcher.ts): steps asked together run in one forward pass
// until their tokens would pass the budget; the rest wait for the next pass, in the order asked,
// and a batch's first step always runs however long it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setMaxBatchTokens, StepBatcher } from '../../lib/engine/batcher.js';
import type { KvCache } from '../../lib/engine/kvCache.js';
import type { BatchItem, CausalLM } from '../../lib/models/model.js';

/** A model that records the token counts of each forward pass and returns logits [i, i]. */
function recordingModel(passes: number[][]): CausalLM {
  return {
    info: { vocabSize: 2 },
    ops: { evaluate() {}, read: (x: unknown) => x, reclaim: () => Promise.resolve() },
    forwardBatch(items: BatchItem[]) {
      passes.push(items.map((it) => it.ids.length));
      return Float32Array.from(items.flatMap((_, i) => [i, i]));
    },
  } as unknown as CausalLM;
}

const cache = () => ({ tensors: () => [] }) as unknown as KvCache;
const ids = (n: number) => new Array<number>(n).fill(1);

async function batches(budget: number, sizes: number[]): Promise<number[][]> {
  const old = setMaxBatchTokens(budget);
  try {
    const passes: number[][] = [];
    const b = new StepBatcher(recordingModel(passes));
    const out = await Promise.all(sizes.map((n) => b.step(cache(), ids(n), true)));
    assert.is(out.length, sizes.length);
    return passes;
  } finally {
    setMaxBatchTokens(old);
  }
}

test('steps past the budget wait for the next pass, in order; the first always runs', async () => {
  assert.equal(await batches(576, [512, 1, 1, 512, 300, 1]), [[512, 1, 1, 1], [512], [300]]);
  assert.equal(await batches(100, [700, 50, 60]), [[700], [50], [60]]);
});

test('without a budget every step asked together is one pass', async () => {
  assert.equal(await batches(Infinity, [512, 1, 1, 512, 300, 1]), [[512, 1, 1, 512, 300, 1]]);
});

test('the default budget holds a 512-token chunk and 64 decoding streams', async () => {
  const old = setMaxBatchTokens(1);
  setMaxBatchTokens(old);
  assert.is(old, 576);
  assert.throws(() => setMaxBatchTokens(0), /at least 1/);
});

test.run();

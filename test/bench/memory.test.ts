// Peak memory is per trial: after a reset the peak forgets an earlier, larger allocation
// (mlx_lm.benchmark reports the process-wide peak instead).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { collectGarbage, processMemoryProbe } from '../../lib/bench/memory.js';

test('a reset starts a new peak; an allocation inside the trial raises it by its size', async () => {
  const probe = processMemoryProbe();
  probe.reset();
  const before = probe.peak();
  let big: Buffer | null = Buffer.alloc(300e6, 1);
  probe.sample();
  const during = probe.peak();
  assert.ok(during - before > 280e6, `peak rose by ${during - before} bytes for a 300 MB buffer`);
  assert.is(big.length, 300e6);
  big = null;
  await collectGarbage();
  probe.reset();
  const after = probe.peak();
  assert.ok(during - after > 250e6, `after a reset the peak is ${after}, the earlier one ${during} (${probe.method})`);
});

test.run();

// The pool under concurrent callers: kernels called from two worker_threads at once
// (queued on one pool) give the same bits as a call from the main thread.
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qmatmul, setThreads } from '../../lib/backend/native/addon.js';
import { freshSeed, randomActivations, randomWeights, rng } from './reference.js';

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.addon).then(({ qmatmul }) => {
  const { x, m, ref, calls } = workerData;
  let last;
  for (let i = 0; i < calls; i++) last = qmatmul(x, m, ref);
  parentPort.postMessage(last);
});
`;

test('two worker threads calling at once get the single-caller result', async () => {
  const seed = freshSeed();
  const rand = rng(seed);
  // 6 × 389 × 448 multiply-adds: above the size the addon runs on the calling thread alone, so the
  // pool's workers take part.
  const p = randomWeights(rand, 389, 448, 3, 64, 'bf16');
  const x = randomActivations(rand, 6, 448);
  setThreads(3);
  const expected = qmatmul(x, 6, p.ref);
  const addon = new URL('../../lib/backend/native/addon.js', import.meta.url).href;
  const results = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<Float32Array>((resolve, reject) => {
          const w = new Worker(workerSource, { eval: true, workerData: { addon, x, m: 6, ref: p.ref, calls: 300 } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  for (const r of results) for (let i = 0; i < expected.length; i++) if (!Object.is(r[i], expected[i])) assert.unreachable(`[seed ${seed}] worker result differs at ${i}: ${r[i]} vs ${expected[i]}`);
  setThreads(2);
});

test.run();

// Child process of mlxFootprint.test.ts: loads a checkpoint on the mlx backend in a fresh process
// and prints, as JSON, the resident bytes mlxk predicts for it, the resident-set growth once loaded
// (after full collections) and the load's peak over the starting resident set (Linux VmHWM).
import { loadMlx } from '../../lib/backend/mlx/load.js';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { collectGarbage, processMemoryProbe } from '../../lib/bench/memory.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { residentWeightBytes } from '../../lib/models/footprint.js';
import { loadModel } from '../../lib/models/load.js';

const dir = process.argv[2]!;
const ckpt = Checkpoint.open(dir);
const predicted = residentWeightBytes(ckpt, 'mlx');
const fileBytes = ckpt.dataBytes;
ckpt.close();
// Warm up the library (its own allocations are not the model's).
const mx = loadMlx().core;
mx.eval(mx.matmul(mx.ones([64, 64]), mx.ones([64, 64])));
await collectGarbage();
const probe = processMemoryProbe();
const before = process.memoryUsage.rss();
const heapBefore = process.memoryUsage().heapTotal;
probe.reset();
const ops = new MlxOps();
const { model } = await loadModel(dir, ops);
probe.sample();
const peak = probe.peak();
await ops.reclaim({ full: true });
await collectGarbage();
const after = process.memoryUsage.rss();
// V8 sizes its own heap (the young generation grows to 2 MB or not by timing); that is not weights.
const heapGrowth = process.memoryUsage().heapTotal - heapBefore;
process.stdout.write(`${JSON.stringify({ fileBytes, predicted, growth: after - before, heapGrowth, peakGrowth: peak - before, method: probe.method, layers: model.info.numLayers ?? null })}\n`);

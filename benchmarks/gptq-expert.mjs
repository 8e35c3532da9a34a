// CPU seconds of one routed expert of the 3.43 GB synthetic Kimi (benchmarks/calibrated-synth.sh:
// gate/up 1024 × 2048, down 2048 × 1024, 3-bit g64) through the guarded path the calibration runs
// (lib/quant/gptqJob.ts quantizeGuarded: GPTQ or learned, then RTN and mse scored against it), on
// one thread, with an expert's Hessian as the run builds it: 256 routed tokens of correlated
// inputs shrunk toward 2,048 of the layer's (lib/calib/hessian.ts). Also GPTQ alone, + the refit,
// + 4 rounds of learned rounding on 512 rows of that Hessian and of gptq-kernels.mjs's (1,024
// independent tokens + I), to show what the Hessian's conditioning costs the refit and the rounds.
// Usage: node benchmarks/gptq-expert.mjs
import { loadavg } from 'node:os';
import { setThreads, gptqQuantize } from '../dist/lib/backend/native/addon.js';
import { Hessian, shrinkHessian } from '../dist/lib/calib/hessian.js';
import { factor, quantizeGuarded } from '../dist/lib/quant/gptqJob.js';

setThreads(1);
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const timed = (fn) => {
  const c = cpu();
  const r = fn();
  return [cpu() - c, r];
};
// Rank-32 structure plus noise, with per-column scales: correlated columns, as activations are.
const inputs = (tokens, n) => {
  const b = Float32Array.from({ length: tokens * 32 }, () => rand() - 0.5);
  const x = new Float32Array(tokens * n);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < n; j++) x[t * n + j] = b[t * 32 + (j % 32)] * (1 + (j % 5)) + 0.3 * (rand() - 0.5);
  return x;
};
const expertHessian = (n) => {
  const own = new Hessian(n);
  own.add(inputs(256, n), 256);
  const shared = new Hessian(n);
  shared.add(inputs(2048, n), 2048);
  return shrinkHessian(own, shared);
};
const weights = (rows, n) => Float32Array.from({ length: rows * n }, () => (rand() - 0.5) * 0.05);
const opts = (method) => ({ bits: 3, groupSize: 64, dtype: 'BF16', method, damp: 0.01, actOrder: true, iters: 4 });

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const total = { gptq: 0, learned: 0 };
for (const [name, rows, n, count] of [['gate/up', 1024, 2048, 2], ['down', 2048, 1024, 1]]) {
  const h = expertHessian(n);
  const w = weights(rows, n);
  const [fc, f] = timed(() => factor(h, n, opts('gptq')));
  const line = [`${name} ${rows}×${n}: factor ${fc.toFixed(2)} s`];
  for (const method of ['gptq', 'learned']) {
    const [c] = timed(() => quantizeGuarded(w, rows, n, h, f, opts(method)));
    total[method] += count * c + fc; // gate and up share one factor
    line.push(`${method} (guarded) ${c.toFixed(2)} s`);
  }
  console.log(line.join(', '));
}
console.log(`one expert (factors, gate, up, down): gptq ${total.gptq.toFixed(2)} s, learned ${total.learned.toFixed(2)} s (${(total.learned / total.gptq).toFixed(2)}×)`);

const n = 2048;
const rows = 512;
const w = weights(rows, n);
const plain = new Hessian(n);
plain.add(Float32Array.from({ length: 1024 * n }, () => rand() - 0.5), 1024);
for (let j = 0; j < n; j++) plain.h[j * n + j] += 1;
for (const [name, h] of [['expert Hessian', expertHessian(n)], ['gptq-kernels Hessian', plain.h]]) {
  const f = factor(h, n, opts('gptq'));
  const cost = [[0, 0], [2, 0], [2, 4]].map(([sweeps, iters]) => timed(() => gptqQuantize(w, rows, n, f.damped, f.u, f.perm, 3, 64, 'bf16', sweeps, iters))[0]);
  console.log(`${name}, ${rows} × ${n}: GPTQ ${cost[0].toFixed(2)} s, + refit ${(cost[1] - cost[0]).toFixed(2)} s, + learned 4 rounds ${(cost[2] - cost[1]).toFixed(2)} s`);
}

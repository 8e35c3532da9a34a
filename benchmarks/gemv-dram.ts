// Quantized GEMV (M = 1) from DRAM at the shapes a decode step reads, not a test: GB/s of weight
// bytes streamed, on one thread and on all of them, cycling through ≥ 384 MB of copies of each
// matrix so every byte comes from memory (gemv-shapes.ts times the same products in cache).
// kernels.ts measures one large [14336, 4096] matrix; a decoded token of a MoE model reads mostly
// expert-sized ones ([1024, 2048] gate/up, [2048, 1024] down on the 3 B synthetic Kimi), each
// split into pool tasks, so how those stream is what bounds decode. Rounds alternate the shapes;
// each round also measures the read bandwidth (readBandwidth, 6 passes) in the same process.
//   npm run build && node dist/benchmarks/gemv-dram.js [--bits 4,8] [--rounds 5] [--out FILE.md]
import { cpus } from 'node:os';
import { isa, qmatmul, readBandwidth, setThreads, threads, type QuantTensorRef } from '../lib/backend/native/addon.js';
import { flag, KernelTable, widths } from '../lib/bench/kernelTable.js';
import { randomQuantMatrix } from '../lib/bench/randomQuant.js';

const SHAPES: [number, number][] = [
  [14336, 4096], // kernels.ts's matrix: one long stream per task
  [2048, 2048], // the 3 B model's o_proj-like and shared-expert products
  [1024, 2048], // one expert's gate or up projection
  [2048, 1024], // one expert's down projection
];
const WORKING_SET = 384 << 20;

const args = process.argv.slice(2);
const bits = widths('gemv-dram', flag(args, 'bits') ?? '4,8');
const rounds = Number(flag(args, 'rounds') ?? 5);
const all = threads();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Case {
  bits: number;
  n: number;
  k: number;
  bytes: number;
  mats: QuantTensorRef[];
  x: Float32Array<ArrayBuffer>;
  y: Float32Array<ArrayBuffer>;
}

const cases: Case[] = [];
for (const b of bits)
  for (const [n, k] of SHAPES) {
    const one = randomQuantMatrix(n, k, b, 64);
    const bytes = one.weights.length + one.scales.length + one.biases.length;
    // Byte copies of one random matrix: the kernel's speed does not depend on the values.
    const mats = Array.from({ length: Math.max(2, Math.ceil(WORKING_SET / bytes)) }, () => ({
      ...one, weights: one.weights.slice(), scales: one.scales.slice(), biases: one.biases.slice(),
    }));
    cases.push({ bits: b, n, k, bytes, mats, x: Float32Array.from({ length: k }, () => Math.random() - 0.5), y: new Float32Array(n) });
  }

const pass = (c: Case, t: number): number => {
  setThreads(t);
  const t0 = process.hrtime.bigint();
  for (const m of c.mats) qmatmul(c.x, 1, m, c.y);
  return (c.bytes * c.mats.length) / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9;
};

for (const c of cases) pass(c, all); // warm-up: first touches of every copy
const rates = cases.map(() => ({ one: [] as number[], all: [] as number[] }));
const bw = { one: [] as number[], all: [] as number[] };
for (let r = 0; r < rounds; r++) {
  bw.one.push(readBandwidth(256 << 20, 1, 6));
  bw.all.push(readBandwidth(256 << 20, all, 6));
  cases.forEach((c, i) => {
    rates[i]!.one.push(pass(c, 1));
    rates[i]!.all.push(pass(c, all));
  });
}
setThreads(all);

const table = new KernelTable(
  `GEMV from DRAM, ${isa()} kernel set, ${cpus()[0]?.model ?? '?'}; medians of ${rounds} rounds; ` +
    `read bandwidth in the same rounds ${median(bw.one).toFixed(1)} GB/s on 1 thread, ${median(bw.all).toFixed(1)} on ${all}.`,
  ['bits', 'shape [n, k]', 'MB', '1 thread GB/s', `${all} threads GB/s (min–max)`, `${all} threads ÷ read bandwidth`],
);
cases.forEach((c, i) => {
  const r = rates[i]!;
  table.row([String(c.bits), `[${c.n}, ${c.k}]`, (c.bytes / 1e6).toFixed(1), median(r.one).toFixed(1),
    `${median(r.all).toFixed(1)} (${Math.min(...r.all).toFixed(1)}–${Math.max(...r.all).toFixed(1)})`, `${Math.round((100 * median(r.all)) / median(bw.all))} %`]);
});
table.finish(flag(args, 'out'));

// Quantized GEMV (M = 1) from DRAM at the shapes a decode step reads, not a test: GB/s of weight
// bytes streamed, on one thread and on all of them, cycling through ≥ 384 MB of copies of each
// matrix so every byte comes from memory (gemv-shapes.ts times the same products in cache).
// kernels.ts measures one large [14336, 4096] matrix; a decoded token of a MoE model reads mostly
// expert-sized ones ([1024, 2048] gate/up, [2048, 1024] down on the 3 B synthetic Kimi), each
// split into pool tasks, so how those stream is what bounds decode; so do MLA's per-head weights,
// 8 KB a head. Rounds alternate the shapes;
// each round also measures the read bandwidth (readBandwidth, 6 passes) in the same process.
//   npm run build && node dist/benchmarks/gemv-dram.js [--bits 4,8] [--rounds 5] [--out FILE.md]
import { cpus } from 'node:os';
import { isa, moeQmatmul, qmatmul, readBandwidth, setThreads, threads, type QuantTensorRef } from '../lib/backend/native/addon.js';
import { flag, KernelTable, widths } from '../lib/bench/kernelTable.js';
import { randomQuantMatrix } from '../lib/bench/randomQuant.js';

// [n, k, heads]: heads > 1 is a per-head weight [heads, n, k] taken whole by one moeQmatmul, head h
// against activation row h, as MLA's absorbed embed_q ([16, 256, 64] on the 3 B model) and
// unembed_out ([16, 64, 256]) are in a decode step.
const SHAPES: [number, number, number][] = [
  [14336, 4096, 1], // kernels.ts's matrix: one long stream per task
  [2048, 2048, 1], // the 3 B model's o_proj-like and shared-expert products
  [1024, 2048, 1], // one expert's gate or up projection
  [2048, 1024, 1], // one expert's down projection
  [256, 64, 16], // embed_q
  [64, 256, 16], // unembed_out
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
  heads: number;
  bytes: number;
  mats: QuantTensorRef[];
  x: Float32Array<ArrayBuffer>;
  y: Float32Array<ArrayBuffer>;
}

const cases: Case[] = [];
for (const b of bits)
  for (const [n, k, heads] of SHAPES) {
    const one = { ...randomQuantMatrix(heads * n, k, b, 64), n, experts: heads };
    const bytes = one.weights.length + one.scales.length + one.biases.length;
    // Byte copies of one random matrix: the kernel's speed does not depend on the values.
    const mats = Array.from({ length: Math.max(2, Math.ceil(WORKING_SET / bytes)) }, () => ({
      ...one, weights: one.weights.slice(), scales: one.scales.slice(), biases: one.biases.slice(),
    }));
    cases.push({ bits: b, n, k, heads, bytes, mats, x: Float32Array.from({ length: heads * k }, () => Math.random() - 0.5), y: new Float32Array(heads * n) });
  }

const eachHead = (h: number) => Int32Array.from({ length: h }, (_, i) => i);
const pass = (c: Case, t: number): number => {
  setThreads(t);
  const index = eachHead(c.heads);
  const t0 = process.hrtime.bigint();
  for (const m of c.mats) {
    if (c.heads === 1) qmatmul(c.x, 1, m, c.y);
    else moeQmatmul(c.x, c.heads, index, index, m, c.y);
  }
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
  table.row([String(c.bits), c.heads === 1 ? `[${c.n}, ${c.k}]` : `${c.heads} heads × [${c.n}, ${c.k}]`, (c.bytes / 1e6).toFixed(1), median(r.one).toFixed(1),
    `${median(r.all).toFixed(1)} (${Math.min(...r.all).toFixed(1)}–${Math.max(...r.all).toFixed(1)})`, `${Math.round((100 * median(r.all)) / median(bw.all))} %`]);
});
table.finish(flag(args, 'out'));

// Decode-shaped quantized GEMV (M = 1) on one thread, not a test: the per-call time of the native
// qmatmul at the matrix shapes a decode step multiplies (tiny-kimi's 256-wide matrices, the short
// rows of per-head products, the 3 B synthetic model's 2048-wide ones, a Kimi-sized 7168 × 2048),
// with the weights cycled through the cache as a model's would be only when they fit. Each figure
// is the fastest of many timed batches, so the machine's other tenants show less (they only ever
// slow a batch). Calls go through a prepared Weight (opLinear, the path a decode step's products
// take), so the time includes one N-API crossing (~0.1 µs, benchmarks/profile-decode.ts measures
// it) but no descriptor parsing.
//   npm run build && node dist/benchmarks/gemv-shapes.js [--bits 2,3,4,8] [--out FILE.md]
import { isa, modelOps, setThreads, type AddonWeight } from '../lib/backend/native/addon.js';
import { randomQuantMatrix } from '../lib/bench/randomQuant.js';
import { flag, KernelTable, widths } from '../lib/bench/kernelTable.js';
import type { Bits } from '../lib/quant/affine.js';

const GS = 64;
const SHAPES: [number, number][] = [
  [256, 128], // tiny-kimi's o_proj: two groups a row
  [512, 128], // one head of Kimi-K2's absorbed q (embed_q: kv_lora_rank × qk_nope_head_dim)
  [256, 256],
  [1024, 256],
  [256, 1024],
  [2048, 2048],
  [7168, 2048],
];
const BATCHES = 15;
/** Calls per timed batch: about 2 ms of work each. */
const callsFor = (n: number, k: number) => Math.max(4, Math.round(2e6 / (n * k * 0.02)));

function matrix(n: number, k: number, bits: Bits): AddonWeight {
  return new (modelOps().Weight)({ kind: 'quant', ...randomQuantMatrix(n, k, bits, GS) });
}

function fastestCall(n: number, k: number, bits: Bits): number {
  const w = matrix(n, k, bits);
  const x = Float32Array.from({ length: k }, () => Math.random() * 2 - 1);
  const out = new Float32Array(n);
  const calls = callsFor(n, k);
  const ops = modelOps();
  for (let i = 0; i < calls; i++) ops.opLinear(x, 1, w, out, null, 8);
  let best = Infinity;
  for (let batch = 0; batch < BATCHES; batch++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) ops.opLinear(x, 1, w, out, null, 8);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e3 / calls);
  }
  return best;
}

function main(): void {
  const args = process.argv.slice(2);
  const bits = widths('gemv-shapes', flag(args, 'bits') ?? '2,3,4,8');
  setThreads(1);
  const table = new KernelTable(
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, native addon ${isa()} × 1 thread, group size ${GS}, bf16 scales; fastest of ${BATCHES} batches per cell.`,
    ['shape [n, k]', ...bits.map((b) => `${b}-bit µs (G multiply-adds/s)`)],
  );
  for (const [n, k] of SHAPES) {
    const cells = bits.map((b) => {
      const us = fastestCall(n, k, b);
      return `${us.toFixed(2)} (${((n * k) / us / 1e3).toFixed(1)})`;
    });
    table.row([`[${n}, ${k}]`, ...cells]);
  }
  table.finish(flag(args, 'out'));
}

main();

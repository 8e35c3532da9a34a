// Quantized products over many activation rows (a batched decode step at M = 5…8, a prompt chunk
// at M = 512, an expert's share of one at M ≈ 8…64) on one thread, not a test: G multiply-adds
// per second of the native qmatmul per bit width and row count, at one weight shape. Each cell is
// the fastest of several calls (the machine's other tenants only ever slow a call down).
//   npm run build && node dist/benchmarks/gemm-rows.js [--bits 3,4,5,6] [--m 8,16,32,48,64,256]
//        [--shape 1024x2048] [--out FILE.md]
import { isa, qmatmul, setThreads } from '../lib/backend/native/addon.js';
import { randomQuantMatrix } from '../lib/bench/randomQuant.js';
import { flag, KernelTable, widths } from '../lib/bench/kernelTable.js';

const GS = 64;
const CALLS = 6;

function list(tool: string, value: string): number[] {
  const values = value.split(',').map(Number);
  for (const v of values) if (!Number.isInteger(v) || v < 1) throw new Error(`${tool}: "${value}" is not a comma-separated list of positive integers`);
  return values;
}

function main(): void {
  const args = process.argv.slice(2);
  const bits = widths('gemm-rows', flag(args, 'bits') ?? '3,4,5,6');
  const ms = list('gemm-rows', flag(args, 'm') ?? '8,16,32,48,64,256');
  const shape = /^(\d+)x(\d+)$/.exec(flag(args, 'shape') ?? '1024x2048');
  if (!shape || Number(shape[2]) % GS !== 0) throw new Error(`gemm-rows: --shape must be NxK with K a multiple of ${GS}`);
  const [n, k] = [Number(shape[1]), Number(shape[2])];
  setThreads(1);
  const table = new KernelTable(
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, native addon ${isa()} × 1 thread, [${n}, ${k}], group size ${GS}, bf16 scales, 8-bit activations; fastest of ${CALLS} calls per cell, G multiply-adds/s.`,
    ['M', ...bits.map((b) => `${b}-bit`)],
  );
  const weights = bits.map((b) => randomQuantMatrix(n, k, b, GS));
  for (const m of ms) {
    const x = Float32Array.from({ length: m * k }, () => Math.random() * 2 - 1);
    const out = new Float32Array(m * n);
    const cells = weights.map((w) => {
      let best = Infinity;
      for (let i = 0; i < CALLS; i++) {
        const t0 = process.hrtime.bigint();
        qmatmul(x, m, w, out);
        best = Math.min(best, Number(process.hrtime.bigint() - t0));
      }
      return ((m * n * k) / best).toFixed(1);
    });
    table.row([String(m), ...cells]);
  }
  table.finish(flag(args, 'out'));
}

main();

// Why the mlx backend picks its quantized-product path by row count (lib/backend/mlx/
// weights.ts): times x·Wᵀ for a float32 W (the baseline, BLAS) and for 8/4-bit W through
// the quantized-matmul kernel and through dequantize + BLAS, at decode and prefill row
// counts, on tiny-kimi's shapes and one Kimi-sized expert. Prints ms per product and the
// ratio to float32 in the same run.
// Run: npm run build && node dist/benchmarks/mlx-linear.js
import { loadMlx } from '../lib/backend/mlx/load.js';

const mx = loadMlx().core;

function ms(f: () => void, reps = 20): number {
  f();
  const t = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t) / reps;
}

console.log('shape [out, in]    rows   f32 ms | kernel 8-bit, 4-bit (×f32) | dequantize+BLAS 8-bit, 4-bit (×f32)');
for (const [out, inp] of [[768, 256], [4128, 256], [2048, 7168]] as const) {
  const W = mx.random.normal([out, inp]);
  const q = [8, 4].map((bits) => mx.quantize(W, 64, bits) as unknown as [typeof W, typeof W, typeof W]);
  mx.eval(W, ...q.flat());
  for (const rows of [1, 8, 64, 300]) {
    const x = mx.random.normal([rows, inp]);
    mx.eval(x);
    const base = ms(() => mx.eval(mx.matmul(x, W.T)));
    const kernel = q.map(([w, s, b], i) => ms(() => mx.eval(mx.quantizedMatmul(x, w, s, b, true, 64, [8, 4][i]!))));
    const deq = q.map(([w, s, b], i) => ms(() => mx.eval(mx.matmul(x, mx.dequantize(w, s, b, 64, [8, 4][i]!).T))));
    const r = (v: number) => `${v.toFixed(2)} (${(v / base).toFixed(1)}×)`;
    console.log(`[${out}, ${inp}]`.padEnd(18), String(rows).padStart(5), base.toFixed(3).padStart(8), '|', kernel.map(r).join(', '), '|', deq.map(r).join(', '));
  }
}

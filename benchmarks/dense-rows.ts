// Dense bf16 products (unquantized models such as the bundled one: every linear layer at B = 1, a
// batched decode step at B = 2…8, an expert's share of one, a serve pass with a prompt chunk at
// M ≈ 20…30) on one thread, not a test: G multiply-adds per second of the native denseMatmul per
// weight shape and activation row count. Each cell is the fastest of several batches of calls (the
// machine's other tenants only ever slow a call down).
//   npm run build && node dist/benchmarks/dense-rows.js [--m 1,2,4,8,16,24,32,64]
//        [--shapes 4128x256,768x256,256x256,2048x2048] [--isa avx512|avx2|scalar] [--out FILE.md]
import { denseMatmul, isa, setIsa, setThreads, supportedIsas, type Isa } from '../lib/backend/native/addon.js';
import { encodeFloats } from '../lib/io/dtype.js';
import { flag, KernelTable } from '../lib/bench/kernelTable.js';

const BATCHES = 12;
const MIN_BATCH_MACS = 2e7;

function list(value: string): number[] {
  const values = value.split(',').map(Number);
  for (const v of values) if (!Number.isInteger(v) || v < 1) throw new Error(`dense-rows: "${value}" is not a comma-separated list of positive integers`);
  return values;
}

function main(): void {
  const args = process.argv.slice(2);
  const ms = list(flag(args, 'm') ?? '1,2,4,8,16,24,32,64');
  const shapes = (flag(args, 'shapes') ?? '4128x256,768x256,256x256,2048x2048').split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s);
    if (!m) throw new Error(`dense-rows: --shapes takes NxK,… (got "${s}")`);
    return [Number(m[1]), Number(m[2])] as const;
  });
  const wanted = flag(args, 'isa') as Isa | undefined;
  if (wanted) {
    if (!supportedIsas().includes(wanted)) throw new Error(`dense-rows: --isa ${wanted} is not one of this CPU's ${supportedIsas().join(', ')}`);
    setIsa(wanted);
  }
  setThreads(1);
  const table = new KernelTable(
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, native addon ${isa()} × 1 thread, bf16 weights, float32 activations; fastest of ${BATCHES} batches per cell, G multiply-adds/s.`,
    ['[N, K]', ...ms.map((m) => `M = ${m}`)],
  );
  for (const [n, k] of shapes) {
    const weights = encodeFloats('BF16', Float32Array.from({ length: n * k }, () => Math.random() - 0.5));
    const w = { weights, n, k, dtype: 'bf16' as const };
    const cells = ms.map((m) => {
      const x = Float32Array.from({ length: m * k }, () => Math.random() - 0.5);
      const out = new Float32Array(m * n);
      const calls = Math.max(1, Math.ceil(MIN_BATCH_MACS / (m * n * k)));
      let best = Infinity;
      for (let b = 0; b < BATCHES; b++) {
        const t0 = process.hrtime.bigint();
        for (let c = 0; c < calls; c++) denseMatmul(x, m, w, out);
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / calls);
      }
      return ((m * n * k) / best).toFixed(1);
    });
    table.row([`[${n}, ${k}]`, ...cells]);
  }
  table.finish(flag(args, 'out'));
}

main();

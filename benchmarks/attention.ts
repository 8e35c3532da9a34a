// The decode attention kernel (issue 14), not a test: raggedAttention of B sequences stepping one
// query row each over their MLA latent caches (one key head; keys are latent + rope rows, values
// the latent part of the same rows), at the shapes of tiny-kimi and of the 3.07 B synthetic Kimi
// of benchmarks/decode.ts. Per kernel set, interleaved in this one process: the fastest SIMD kernel
// this CPU runs (kernels_avx512_attend.cc or kernels_avx2_attend.cc) and the portable one
// (kernels_scalar.cc, the compiler's vectorization of plain loops; on an AVX-512 CPU its AVX-512
// clone runs under either table), ns per (query head, key) as the minimum and median over
// repetitions, on 1 thread and on the pool.
//   npm run build && node dist/benchmarks/attention.js [--context 512] [--reps 200]
import { loadavg } from 'node:os';
import { setIsa, setThreads, supportedIsas, threads, type Isa } from '../lib/backend/native/addon.js';
import { NativeOps } from '../lib/backend/native/ops.js';
import type { Segment } from '../lib/backend/ops.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CONTEXT = opt('context', 512);
const REPS = opt('reps', 200);
const ops = new NativeOps();
const poolThreads = threads();
const shapes = [
  { model: 'tiny-kimi', heads: 4, rank: 64, rope: 16 },
  { model: '3.07 B', heads: 16, rank: 256, rope: 32 },
];
const simd = (['avx512', 'avx2'] as const).find((i) => supportedIsas().includes(i));
const tables: Isa[] = simd ? [simd, 'scalar'] : ['scalar'];
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; caches of ${CONTEXT}–${CONTEXT + 7 * 8} tokens; ${REPS} repetitions; ns per (query head, key), min / median\n`);
console.log('| model | B | threads | ' + tables.map((t) => `${t === 'scalar' ? 'portable' : t}`).join(' | ') + ` | portable ÷ ${simd ?? 'SIMD'} (min) |`);
console.log('|---|---|---|' + tables.map(() => '---|').join('') + '---|');
for (const s of shapes) {
  const D = s.rank + s.rope;
  for (const B of [1, 8]) {
    const lengths = Array.from({ length: B }, (_, b) => CONTEXT + 8 * b);
    const caches = lengths.map((S) => ops.constant(Float32Array.from({ length: S * D }, () => Math.random() - 0.5), [S, 1, D]));
    const keys = caches;
    const values = caches.map((c) => ops.slice(c, 2, 0, s.rank));
    const q = ops.constant(Float32Array.from({ length: B * s.heads * D }, () => Math.random() - 0.5), [B, s.heads, D]);
    const segments: Segment[] = lengths.map((S) => ({ tokens: 1, offset: S - 1 }));
    const pairs = s.heads * lengths.reduce((a, S) => a + S, 0);
    for (const n of [1, poolThreads]) {
      setThreads(n);
      const ns = new Map<string, number[]>(tables.map((t) => [t, []]));
      for (let r = 0; r < REPS; r++) {
        for (const t of tables) {
          setIsa(t);
          const t0 = process.hrtime.bigint();
          ops.raggedAttention(q, keys, values, segments, 0.1);
          ns.get(t)!.push(Number(process.hrtime.bigint() - t0) / pairs);
        }
      }
      const cell = (t: string) => {
        const x = sorted(ns.get(t)!);
        return `${x[0]!.toFixed(2)} / ${x[x.length >> 1]!.toFixed(2)}`;
      };
      const ratio = simd ? (sorted(ns.get('scalar')!)[0]! / sorted(ns.get(simd)!)[0]!).toFixed(2) : '—';
      console.log(`| ${s.model} (${s.heads} heads, d ${D}, dv ${s.rank}) | ${B} | ${n} | ${tables.map(cell).join(' | ')} | ${ratio}× |`);
    }
  }
}
setIsa('auto');
setThreads(poolThreads);

// The attention kernels (kernels_avx512_attend.cc, the portable one in kernels_scalar.cc) on every
// kernel set this CPU has, through raggedAttention: B sequences stepping one query row each over
// MQA keys (absorbed MLA's shape: one key head, many query heads, keys and values the same rows),
// and a prefill chunk over a cached prefix with GQA, against softmax(scale·q·Kᵀ)·V in float64.
// Shapes cover the AVX-512 kernel's edges: head blocks of 1 … 8 (the dispatcher splits heads when
// few rows leave threads idle), key counts that are not a multiple of its 4-key tile, widths d and
// dv that are not multiples of 16 / 32, caches long enough for the SIMD kernels' spans, and long
// caches of few sequences split into key ranges across the pool's threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setIsa, setThreads, supportedIsas, threads } from '../../lib/backend/native/addon.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import type { Segment } from '../../lib/backend/ops.js';
import { freshSeed, rng } from './reference.js';

const ops = new NativeOps();

/** float64 attention of query row t (of T) of one sequence over S keys: [Hq, Dv]. */
function reference(q: Float32Array, T: number, k: Float32Array, v: Float32Array, S: number, Hq: number, Hkv: number, D: number, Dv: number, scale: number, kStride: number, vStride: number, vOffset: number): Float64Array {
  const out = new Float64Array(T * Hq * Dv);
  for (let t = 0; t < T; t++) {
    const visible = S - T + t + 1;
    for (let h = 0; h < Hq; h++) {
      const kv = Math.floor(h / (Hq / Hkv));
      const scores = new Float64Array(visible);
      for (let s = 0; s < visible; s++) {
        let dot = 0;
        for (let i = 0; i < D; i++) dot += q[(t * Hq + h) * D + i]! * k[s * kStride + kv * D + i]!;
        scores[s] = dot * scale;
      }
      const m = Math.max(...scores);
      let z = 0;
      for (let s = 0; s < visible; s++) z += scores[s] = Math.exp(scores[s]! - m);
      for (let i = 0; i < Dv; i++) {
        let acc = 0;
        for (let s = 0; s < visible; s++) acc += (scores[s]! / z) * v[s * vStride + vOffset + kv * Dv + i]!;
        out[(t * Hq + h) * Dv + i] = acc;
      }
    }
  }
  return out;
}

function check(got: Float32Array, want: Float64Array, what: string, tolerance = 2e-5): void {
  for (let i = 0; i < want.length; i++) {
    // Values are N(0, 1): a weighted mean of them in float32 is good to a few ulps of 1.
    if (!(Math.abs(got[i]! - want[i]!) <= tolerance)) assert.unreachable(`${what}: out[${i}] = ${got[i]}, expected ${want[i]}`);
  }
}

/** N(0, 1) floats from rand (Box–Muller). */
const normals = (rand: () => number) => (n: number) => Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));

/** One decode row per sequence over its cache rows (keys of D floats, the values their first Dv), on every kernel set. */
function checkMqaDecode(lengths: readonly number[], rows: Float32Array[], q: Float32Array, Hq: number, D: number, Dv: number, what: string, tolerance?: number): void {
  const scale = 1 / Math.sqrt(D);
  const want = Float64Array.from(lengths.flatMap((S, b) => [...reference(q.subarray(b * Hq * D, (b + 1) * Hq * D), 1, rows[b]!, rows[b]!, S, Hq, 1, D, Dv, scale, D, D, 0)]));
  const segments: Segment[] = lengths.map((S) => ({ tokens: 1, offset: S - 1 }));
  for (const isa of supportedIsas()) {
    setIsa(isa);
    const caches = lengths.map((S, b) => ops.constant(rows[b]!, [S, 1, D]));
    const got = ops.read(ops.raggedAttention(ops.constant(q, [lengths.length, Hq, D]), caches, caches.map((c) => ops.slice(c, 2, 0, Dv)), segments, scale));
    check(got, want, `${what} ${isa}`, tolerance);
  }
  setIsa('auto');
}

test('MQA decode rows of B sequences (absorbed MLA: keys and values are one latent row) on every kernel set', () => {
  for (const [B, Hq, D, Dv] of [[1, 4, 80, 64], [8, 4, 80, 64], [3, 16, 288, 256], [2, 20, 17, 33], [1, 1, 16, 32], [5, 7, 48, 8]] as const) {
    const seed = freshSeed();
    const rand = rng(seed);
    const normal = normals(rand);
    const lengths = Array.from({ length: B }, (_, b) => [1, 5, 63, 300, 4, 129, 2, 17][b % 8]!);
    // One cache row holds the key (D values, of which the first Dv are the value) as absorbed MLA's latent row does.
    const W = Math.max(D, Dv);
    const rows = lengths.map((S) => normal(S * W));
    const q = normal(B * Hq * D);
    const scale = 1 / Math.sqrt(D);
    const want = lengths.flatMap((S, b) => [...reference(q.subarray(b * Hq * D, (b + 1) * Hq * D), 1, rows[b]!, rows[b]!, S, Hq, 1, D, Dv, scale, W, W, 0)]);
    const segments: Segment[] = lengths.map((S) => ({ tokens: 1, offset: S - 1 }));
    for (const isa of supportedIsas()) {
      setIsa(isa);
      const caches = lengths.map((S, b) => ops.constant(rows[b]!, [S, 1, W]));
      const got = ops.read(ops.raggedAttention(ops.constant(q, [B, Hq, D]), caches.map((c) => ops.slice(c, 2, 0, D)), caches.map((c) => ops.slice(c, 2, 0, Dv)), segments, scale));
      check(got, Float64Array.from(want), `[seed ${seed}] ${isa} B ${B} Hq ${Hq} D ${D} Dv ${Dv}`);
    }
  }
  setIsa('auto');
});

test('every cache length 1 … 72 with every head block 1 … 8, flat and peaked scores, on every kernel set', () => {
  // One sequence per cache length, so each length meets the 4-key tile, its 1-key tail and the
  // 16-lane masks in every position; 72 rows keep the dispatcher from splitting the Hq heads, so the
  // kernel gets head blocks of exactly Hq. q × 6 makes the softmax nearly one-hot (exp far from 0).
  const lengths = Array.from({ length: 72 }, (_, i) => i + 1);
  for (const [D, Dv] of [[80, 64], [288, 256]] as const) {
    for (let Hq = 1; Hq <= 8; Hq++) {
      for (const sharpness of [1, 6]) {
        if (D === 288 && Hq % 3 !== 0 && Hq !== 8) continue;
        const seed = freshSeed();
        const normal = normals(rng(seed));
        const rows = lengths.map((S) => normal(S * D));
        const q = normal(lengths.length * Hq * D).map((x) => x * sharpness);
        checkMqaDecode(lengths, rows, q, Hq, D, Dv, `[seed ${seed}] Hq ${Hq} D ${D} Dv ${Dv} sharpness ${sharpness}`);
      }
    }
  }
});

test('long caches, walked in spans with the softmax kept online (a head\'s running max rising mid-cache), on every kernel set', () => {
  // The AVX2 kernel walks keys in spans of ~384 KiB of rows (340 keys at D = 288, 1228 at D = 80):
  // these lengths take 2–8 spans, the last one partial. Peaked scores (q × 6) move a head's max
  // from span to span; the largest key is put late in one sequence so its max rises in the last span.
  for (const [D, Dv, Hq, lengths] of [[288, 256, 8, [341, 700, 2047]], [80, 64, 4, [1229, 2460, 5000]], [40, 24, 3, [3001]]] as const) {
    for (const sharpness of [1, 6]) {
      const seed = freshSeed();
      const normal = normals(rng(seed));
      const rows = lengths.map((S) => normal(S * D));
      const q = normal(lengths.length * Hq * D).map((x) => x * sharpness);
      // Sequence 0's last key row along its first head's query, scored 5σ + 1 (above every random
      // key, whose scores have σ = sharpness): that head's max arrives at the end. (Scores in the
      // hundreds would leave float32 no digits for e^(s − max), whatever the kernel.)
      const last = rows[0]!.subarray((lengths[0]! - 1) * D, lengths[0]! * D);
      const q0 = q.subarray(0, D);
      const t = (5 * sharpness + 1) * Math.sqrt(D) / q0.reduce((a, x) => a + x * x, 0);
      for (let i = 0; i < D; i++) last[i] = q0[i]! * t;
      // Thousands of float32 terms: 1e-4 (the portable kernel reaches 2.5e-5 at 5000 keys); an
      // unscaled earlier span is off by O(1).
      checkMqaDecode(lengths, rows, q, Hq, D, Dv, `[seed ${seed}] Hq ${Hq} D ${D} Dv ${Dv} lengths ${lengths.join('/')} sharpness ${sharpness}`, 1e-4);
    }
  }
});

test('long caches of few sequences split into key ranges across threads, merged from each range\'s softmax statistics, on every kernel set', () => {
  // With more threads than (sequence, head block) pairs the dispatcher gives each thread a range of
  // ≥ 512 keys (1 sequence of 5000 keys at 8 threads: 8 ranges), merging the ranges' outputs by
  // their max and exp sums; a sequence too short to split beside a split one, and heads split when
  // no cache is long enough. The planted late maximum sits in the last range of sequence 0.
  const pool = threads();
  try {
    for (const n of [2, 3, 8]) {
      setThreads(n);
      for (const [D, Dv, Hq, lengths] of [[80, 64, 4, [5000]], [288, 256, 8, [2047]], [40, 24, 3, [3001, 40]], [48, 8, 16, [700]]] as const) {
        const seed = freshSeed();
        const normal = normals(rng(seed));
        const rows = lengths.map((S) => normal(S * D));
        const q = normal(lengths.length * Hq * D).map((x) => x * 6);
        const last = rows[0]!.subarray((lengths[0]! - 1) * D, lengths[0]! * D);
        const q0 = q.subarray(0, D);
        const t = 31 * Math.sqrt(D) / q0.reduce((a, x) => a + x * x, 0);
        for (let i = 0; i < D; i++) last[i] = q0[i]! * t;
        checkMqaDecode(lengths, rows, q, Hq, D, Dv, `[seed ${seed}] ${n} threads Hq ${Hq} D ${D} Dv ${Dv} lengths ${lengths.join('/')}`, 1e-4);
      }
    }
  } finally {
    setThreads(pool);
  }
});

test('a prefill chunk over a cached prefix (GQA, causal) on every kernel set', () => {
  for (const [T, S, Hq, Hkv, D, Dv] of [[7, 19, 12, 3, 40, 24], [5, 5, 2, 1, 96, 96]] as const) {
    const seed = freshSeed();
    const rand = rng(seed);
    const normal = normals(rand);
    const q = normal(T * Hq * D);
    const k = normal(S * Hkv * D);
    const v = normal(S * Hkv * Dv);
    const scale = 1 / Math.sqrt(D);
    const want = reference(q, T, k, v, S, Hq, Hkv, D, Dv, scale, Hkv * D, Hkv * Dv, 0);
    for (const isa of supportedIsas()) {
      setIsa(isa);
      const got = ops.read(ops.attention(ops.constant(q, [T, Hq, D]), ops.constant(k, [S, Hkv, D]), ops.constant(v, [S, Hkv, Dv]), scale));
      check(got, want, `[seed ${seed}] ${isa} T ${T} S ${S} Hq ${Hq} Hkv ${Hkv} D ${D} Dv ${Dv}`);
    }
  }
  setIsa('auto');
});

test.run();

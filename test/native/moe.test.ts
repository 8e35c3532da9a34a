// moeQmatmul: (row, expert) pairs over stacked experts [E, N, K], against the
// float64 reference of each pair's expert; experts with no pair, experts taking
// the GEMV path (≤ 4 pairs) and the GEMM path (more) in one call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { moeQmatmul, qmatmul, setIsa, supportedIsas, type ScaleDtype } from '../../lib/backend/native/addon.js';
import { expect, freshSeed, quantizeActivationsJs, randomActivations, randomWeights, rng } from './reference.js';

const ISAS = supportedIsas();

test('pairs grouped by expert match the float64 reference of their own expert', () => {
  const cases: [number, number, ScaleDtype][] = [
    [2, 32, 'bf16'],
    [3, 64, 'f16'],
    [4, 128, 'f32'],
    [5, 32, 'f16'],
    [6, 64, 'bf16'],
    [8, 128, 'bf16'],
  ];
  for (const [bits, gs, dtype] of cases) {
    const seed = freshSeed();
    const rand = rng(seed);
    const experts = 7;
    const n = 37;
    const k = gs * 5;
    const p = randomWeights(rand, n, k, bits, gs, dtype, experts);
    // 6 tokens × 4 slots; expert 1 gets 9 pairs (GEMM path), 3 and 5 none, the others a few.
    const tokens = 6;
    const slots = 4;
    const choice = [1, 0, 2, 4, 6];
    const expertIndex = new Int32Array(tokens * slots);
    const rowIndex = new Int32Array(tokens * slots);
    for (let t = 0; t < tokens; t++) {
      for (let s = 0; s < slots; s++) {
        rowIndex[t * slots + s] = t;
        expertIndex[t * slots + s] = s === 0 || (s === 1 && t < 3) ? 1 : choice[1 + Math.floor(rand() * 4)]!;
      }
    }
    const x = randomActivations(rand, tokens, k);
    const activationBits = bits % 2 === 0 ? 16 : 8;
    const act = quantizeActivationsJs(x, tokens, k, activationBits);
    for (const isa of ISAS) {
      setIsa(isa);
      const out = moeQmatmul(x, tokens, rowIndex, expertIndex, p.ref, new Float32Array(rowIndex.length * n).fill(NaN), { activationBits });
      for (let pair = 0; pair < rowIndex.length; pair++) {
        const r = rowIndex[pair]!;
        const e = expertIndex[pair]!;
        for (let j = 0; j < n; j++) {
          const want = expect(p, x, r * k, act, r, e * n + j);
          const got = out[pair * n + j]!;
          if (!(Math.abs(got - want.quantized) <= want.tolQuantized)) {
            assert.unreachable(`[seed ${seed}] ${isa} ${bits}-bit pair ${pair} (row ${r}, expert ${e}) out[${j}] = ${got}, expected ${want.quantized} ± ${want.tolQuantized}`);
          }
        }
      }
    }
  }
  setIsa('auto');
});

test('one activation row per pair (down-projection style) equals qmatmul on that expert alone', () => {
  const seed = freshSeed();
  const rand = rng(seed);
  const [experts, n, k] = [5, 21, 320];
  const p = randomWeights(rand, n, k, 4, 64, 'bf16', experts);
  const pairs = 7;
  const x = randomActivations(rand, pairs, k);
  const rowIndex = Int32Array.from({ length: pairs }, (_, i) => i);
  const expertIndex = Int32Array.from([4, 4, 0, 4, 4, 4, 0]);
  const out = moeQmatmul(x, pairs, rowIndex, expertIndex, p.ref, new Float32Array(pairs * n).fill(NaN));
  // Each expert on its own through qmatmul, with the weight slice of that expert.
  for (const e of [0, 4]) {
    const rows = [...rowIndex].filter((_, i) => expertIndex[i] === e);
    const xe = new Float32Array(rows.length * k);
    rows.forEach((r, i) => xe.set(x.subarray(r * k, (r + 1) * k), i * k));
    const sub = randomWeightsSlice(p, e);
    const ye = qmatmul(xe, rows.length, sub);
    rows.forEach((r, i) => {
      for (let j = 0; j < n; j++) {
        // Same rows, same kernel path, same per-row arithmetic: bit-identical.
        const a = out[r * n + j]!;
        const b = ye[i * n + j]!;
        if (!Object.is(a, b)) assert.unreachable(`[seed ${seed}] expert ${e} row ${r}: moe ${a} vs qmatmul ${b}`);
      }
    });
  }
});

/** The weight/scale/bias bytes of one expert of a stacked problem, as a plain matrix. */
function randomWeightsSlice(p: ReturnType<typeof randomWeights>, e: number) {
  const w = p.ref.weights as Uint8Array;
  const s = p.ref.scales as Uint8Array;
  const b = p.ref.biases as Uint8Array;
  const wb = w.length / p.experts;
  const sb = s.length / p.experts;
  return { ...p.ref, experts: 1, weights: w.subarray(e * wb, (e + 1) * wb), scales: s.subarray(e * sb, (e + 1) * sb), biases: b.subarray(e * sb, (e + 1) * sb) };
}

test('out-of-range indices are rejected before any work', () => {
  const rand = rng(freshSeed());
  const p = randomWeights(rand, 8, 64, 4, 64, 'bf16', 3);
  const x = new Float32Array(2 * 64);
  assert.throws(() => moeQmatmul(x, 2, Int32Array.from([0, 2]), Int32Array.from([0, 1]), p.ref), /rowIndex\[1\] = 2 is outside \[0, 2\)/);
  assert.throws(() => moeQmatmul(x, 2, Int32Array.from([0, 1]), Int32Array.from([3, 1]), p.ref), /expertIndex\[0\] = 3 is outside \[0, 3\)/);
  assert.throws(() => moeQmatmul(x, 2, Int32Array.from([0]), Int32Array.from([0, 1]), p.ref), /rowIndex has 1 pairs but expertIndex has 2/);
});

test.run();

// qmatmul on every kernel set this CPU runs (the scalar fallback always), every
// bit width × group size × scale dtype, awkward shapes, against float64 references.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qmatmul, quantizeActivations, setIsa, setThreads, supportedIsas, type ScaleDtype } from '../../lib/backend/native/addon.js';
import { SUPPORTED_BITS, SUPPORTED_GROUP_SIZES } from '../../lib/quant/affine.js';
import { expect, freshSeed, quantizeActivationsJs, randomActivations, randomWeights, rng, type JsActivations } from './reference.js';

const ISAS = supportedIsas();
const DTYPES: ScaleDtype[] = ['bf16', 'f16', 'f32'];
// M from 1 to 33: the GEMV path (≤ 4 rows), the panel GEMM with partial register tiles, and long runs.
const MS = [1, 2, 3, 4, 5, 6, 7, 9, 13, 17, 33];
// N never a multiple of 8 except by accident of the 70/32 panel split.
const NS = [1, 3, 13, 37, 45, 67, 70];

/** K a multiple of the group size but not of 512 (and for g32 sometimes an odd number of 32-blocks). */
function awkwardK(rand: () => number, gs: number): number {
  for (;;) {
    const k = gs * (1 + Math.floor(rand() * (1024 / gs)));
    if (k % 512 !== 0) return k;
  }
}

function check(label: string, out: Float32Array, m: number, p: ReturnType<typeof randomWeights>, x: Float32Array, act: JsActivations): void {
  for (let r = 0; r < m; r++) {
    for (let n = 0; n < p.n; n++) {
      const got = out[r * p.n + n]!;
      const e = expect(p, x, r * p.k, act, r, n);
      if (!(Math.abs(got - e.quantized) <= e.tolQuantized)) {
        assert.unreachable(`${label} out[${r}, ${n}] = ${got}, int8-activation reference ${e.quantized} ± ${e.tolQuantized}`);
      }
      if (!(Math.abs(got - e.exact) <= e.tolExact)) {
        assert.unreachable(`${label} out[${r}, ${n}] = ${got}, exact ${e.exact} ± ${e.tolExact}`);
      }
    }
  }
}

/** qmatmul of m rows on every kernel set, 8- and 16-bit activations, against the references. */
function checkEverySet(label: string, p: ReturnType<typeof randomWeights>, x: Float32Array, m: number): void {
  for (const activationBits of [8, 16] as const) {
    const act = quantizeActivationsJs(x, m, p.k, activationBits);
    for (const isa of ISAS) {
      setIsa(isa);
      const out = qmatmul(x, m, p.ref, new Float32Array(m * p.n).fill(NaN), { activationBits });
      check(`${label} ${isa} a${activationBits} m=${m}`, out, m, p, x, act);
    }
  }
}

test('every kernel set agrees with the float64 references for all widths, group sizes and scale dtypes', () => {
  assert.ok(ISAS.includes('scalar'), 'the scalar fallback is always available');
  let cases = 0;
  for (const bits of SUPPORTED_BITS) {
    for (const gs of SUPPORTED_GROUP_SIZES) {
      for (const dtype of DTYPES) {
        const seed = freshSeed();
        const rand = rng(seed);
        const m = MS[cases % MS.length]!;
        const n = NS[Math.floor(rand() * NS.length)]!;
        const k = awkwardK(rand, gs);
        const p = randomWeights(rand, n, k, bits, gs, dtype);
        const x = randomActivations(rand, m, k);
        for (const activationBits of [8, 16] as const) {
          const act = quantizeActivationsJs(x, m, k, activationBits);
          for (const isa of ISAS) {
            setIsa(isa);
            const out = new Float32Array(m * n).fill(NaN);
            qmatmul(x, m, p.ref, out, { activationBits });
            check(`[seed ${seed}] ${isa} ${bits}-bit g${gs} ${dtype} a${activationBits} m=${m} n=${n} k=${k}`, out, m, p, x, act);
          }
        }
        cases++;
      }
    }
  }
  setIsa('auto');
  assert.is(cases, 54);
});

test('GEMV rows of 1, 2, 3, 15, 16, 17 and 33 groups (AVX-512 holds scales in registers 16 groups at a time; AVX2 loads a partial segment\'s scales and a row\'s short last line apart), every width and group size, 8- and 16-bit activations, M = 1…4, a partial tile', () => {
  let cases = 0;
  for (const bits of SUPPORTED_BITS) {
    for (const gs of SUPPORTED_GROUP_SIZES) {
      for (const groups of [1, 2, 3, 15, 16, 17, 33]) {
        const dtype = DTYPES[cases++ % DTYPES.length]!;
        const seed = freshSeed();
        const rand = rng(seed);
        const [n, k] = [7, gs * groups];
        const p = randomWeights(rand, n, k, bits, gs, dtype);
        for (let m = 1; m <= 4; m++) checkEverySet(`[seed ${seed}] ${bits}-bit g${gs} ${dtype} ${groups} groups`, p, randomActivations(rand, m, k), m);
      }
    }
  }
  setIsa('auto');
  assert.is(cases, SUPPORTED_BITS.length * SUPPORTED_GROUP_SIZES.length * 7);
});

test('the activation quantization is bit-identical to the documented scheme on every kernel set', () => {
  const seed = freshSeed();
  const rand = rng(seed);
  const m = 5;
  const k = 32 * 37;
  const x = randomActivations(rand, m, k);
  x[7] = 0;
  x.fill(0, 64, 96); // an all-zero block: d = 0, q = 0
  // A block whose values sit exactly half a step from the grid: the residual plane clamps to 127.
  for (let i = 0; i < 32; i++) x[128 + i] = i === 0 ? 127 : i % 2 ? 0.5 : -2.5;
  for (const [isa, bits] of ISAS.flatMap((i) => [[i, 8] as const, [i, 16] as const])) {
    const js = quantizeActivationsJs(x, m, k, bits);
    setIsa(isa);
    const a = quantizeActivations(x, m, k, 32, bits);
    assert.is(a.kpad, js.kpad);
    assert.is(a.q2 === undefined, bits === 8);
    for (let i = 0; i < js.q.length; i++) if (a.q[i] !== js.q[i]) assert.unreachable(`[seed ${seed}] ${isa}/${bits}: q[${i}] = ${a.q[i]}, expected ${js.q[i]}`);
    if (js.q2) for (let i = 0; i < js.q2.length; i++) if (a.q2![i] !== js.q2[i]) assert.unreachable(`[seed ${seed}] ${isa}: q2[${i}] = ${a.q2![i]}, expected ${js.q2[i]}`);
    for (let i = 0; i < js.d.length; i++) if (a.d[i] !== js.d[i]) assert.unreachable(`[seed ${seed}] ${isa}/${bits}: d[${i}] = ${a.d[i]}, expected ${js.d[i]}`);
    // The bias term's group sums are of the rounded activations: d · Σ codes (one block a group here).
    for (let r = 0; r < m; r++) {
      for (let g = 0; g < k / 32; g++) {
        let codes = 0;
        for (let i = 0; i < 32; i++) {
          const at = r * js.kpad + g * 32 + i;
          codes += js.q2 ? 256 * js.q[at]! + js.q2[at]! : js.q[at]!;
        }
        const want = Math.fround(js.d[(r * js.kpad) / 32 + g]! * codes);
        const got = a.sx[r * (k / 32) + g]!;
        if (got !== want) assert.unreachable(`[seed ${seed}] ${isa}/${bits}: sx[${r}, ${g}] = ${got}, expected ${want}`);
      }
    }
  }
  setIsa('auto');
});

test('larger shapes: several GEMM panels, partial tiles, every width, thread count does not change a bit', () => {
  for (const bits of SUPPORTED_BITS) {
    const seed = freshSeed();
    const rand = rng(seed);
    const [m, n, k, gs] = [33, 203, 1056, 32];
    const p = randomWeights(rand, n, k, bits, gs, 'bf16');
    const x = randomActivations(rand, m, k);
    const activationBits = bits % 2 === 0 ? 8 : 16;
    const act = quantizeActivationsJs(x, m, k, activationBits);
    for (const isa of ISAS) {
      setIsa(isa);
      setThreads(1);
      const one = qmatmul(x, m, p.ref, new Float32Array(m * n).fill(NaN), { activationBits });
      setThreads(3);
      const three = qmatmul(x, m, p.ref, new Float32Array(m * n).fill(NaN), { activationBits });
      check(`[seed ${seed}] ${isa} ${bits}-bit a${activationBits} m=${m} n=${n} k=${k}`, three, m, p, x, act);
      for (let i = 0; i < one.length; i++) if (!Object.is(one[i], three[i])) assert.unreachable(`${isa} ${bits}-bit: 1 vs 3 threads differ at ${i}`);
    }
  }
  setIsa('auto');
  setThreads(2);
});

test('3 bits either side of 32 activation rows (AVX2 repacks a panel to 4 bits from 32, runs 3-bit lines below): both agree with the references', () => {
  for (const [gs, k] of [[32, 1056], [64, 640]] as const) {
    const seed = freshSeed();
    const rand = rng(seed);
    const n = 45;
    const p = randomWeights(rand, n, k, 3, gs, 'bf16');
    for (const m of [31, 32, 35]) checkEverySet(`[seed ${seed}] 3-bit g${gs} n=${n} k=${k}`, p, randomActivations(rand, m, k), m);
  }
  setIsa('auto');
});

test('model-sized shapes (K = 14336, N = 1100, M = 40): sampled outputs on every kernel set', () => {
  const seed = freshSeed();
  const rand = rng(seed);
  const [m, n, k] = [40, 1100, 14336];
  for (const bits of [2, 5] as const) {
    const p = randomWeights(rand, n, k, bits, 64, 'bf16');
    const x = randomActivations(rand, m, k);
    const act = quantizeActivationsJs(x, m, k);
    for (const isa of ISAS) {
      setIsa(isa);
      const out = qmatmul(x, m, p.ref, new Float32Array(m * n).fill(NaN));
      assert.ok(out.every(Number.isFinite), `${isa}: every output written`);
      for (let t = 0; t < 60; t++) {
        const r = Math.floor(rand() * m);
        const j = t < 4 ? n - 1 - t : Math.floor(rand() * n);
        const e = expect(p, x, r * k, act, r, j);
        const got = out[r * n + j]!;
        if (!(Math.abs(got - e.quantized) <= e.tolQuantized)) assert.unreachable(`[seed ${seed}] ${isa} ${bits}-bit out[${r}, ${j}] = ${got}, expected ${e.quantized} ± ${e.tolQuantized}`);
      }
      const single = qmatmul(x.subarray(0, k), 1, p.ref, new Float32Array(n).fill(NaN));
      for (let t = 0; t < 20; t++) {
        const j = Math.floor(rand() * n);
        const e = expect(p, x, 0, act, 0, j);
        if (!(Math.abs(single[j]! - e.quantized) <= e.tolQuantized)) assert.unreachable(`[seed ${seed}] ${isa} ${bits}-bit GEMV out[${j}] = ${single[j]}, expected ${e.quantized}`);
      }
    }
  }
  setIsa('auto');
});

test('bad descriptors are rejected with errors naming the field', () => {
  const rand = rng(freshSeed());
  const p = randomWeights(rand, 4, 64, 4, 32, 'f32');
  const x = new Float32Array(64);
  assert.throws(() => qmatmul(x, 1, { ...p.ref, bits: 7 as 4 }), /bits: 7 is not an MLX affine width/);
  assert.throws(() => qmatmul(x, 1, { ...p.ref, groupSize: 48 as 32 }), /groupSize: 48/);
  assert.throws(() => qmatmul(x, 1, { ...p.ref, n: 5 }), /weights: 128 bytes available but 160 are needed/);
  assert.throws(() => qmatmul(x, 1, { ...p.ref, scaleDtype: 'f8' as 'f32' }), /scaleDtype/);
  assert.throws(() => qmatmul(x.subarray(1), 1, p.ref), /x: Float32Array of length 63 is too short/);
  assert.throws(() => qmatmul(x, 1, p.ref, new Float32Array(3)), /out: Float32Array of length 3/);
  assert.throws(() => qmatmul(x, 1, { ...p.ref, weights: 'nope' as unknown as Uint8Array }), /weights: expected a TypedArray/);
});

test.run();

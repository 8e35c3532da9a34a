// Float64 references for the native kernels, built from lib/quant/affine.ts (the
// MLX-exact unpack) and an independent JS replication of the kernels' documented
// int8 activation scheme, plus the error bounds the tests hold the kernels to.
import { decodeFloats, encodeFloats, type DType } from '../../lib/io/dtype.js';
import { pack, rint, unpack } from '../../lib/quant/affine.js';
import type { QuantTensorRef, ScaleDtype } from '../../lib/backend/native/addon.js';

/** Seeded generator (mulberry32): tests print their seed so failures reproduce. */
export { seededRandom as rng } from '../../lib/engine/sampler.js';

export const U = 2 ** -24;
/** Higham's γ_n = n·u/(1 − n·u): the relative bound of n float32 roundings. */
export const gamma = (n: number) => (n * U) / (1 - n * U);

export const freshSeed = () => Math.floor(Math.random() * 2 ** 32);

const DTYPE: Record<ScaleDtype, DType> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };

/** bytes copied to a random 0..3 byte offset inside a larger buffer, so kernels see unaligned data. */
export function misaligned(bytes: Uint8Array, rand: () => number): Uint8Array {
  const off = Math.floor(rand() * 4);
  const buf = new Uint8Array(bytes.length + off + 3);
  buf.set(bytes, off);
  return buf.subarray(off, off + bytes.length);
}

export interface Problem {
  n: number;
  k: number;
  bits: number;
  groupSize: number;
  experts: number;
  /** unpacked q [experts·n, k] (checked against affine.unpack of the packed words) */
  q: Uint8Array;
  /** stored scale/bias values (after rounding to the storage dtype) [experts·n, k/groupSize] */
  scales: Float32Array;
  biases: Float32Array;
  ref: QuantTensorRef;
}

/** A random quantized weight (any q, scales of both signs) in the MLX layout, at unaligned offsets. */
export function randomWeights(rand: () => number, n: number, k: number, bits: number, groupSize: number, scaleDtype: ScaleDtype, experts = 1): Problem {
  const rows = experts * n;
  const q = new Uint8Array(rows * k);
  for (let i = 0; i < q.length; i++) q[i] = Math.floor(rand() * (1 << bits));
  const words = pack(q, rows, k, bits);
  const groups = rows * (k / groupSize);
  const s32 = new Float32Array(groups);
  const b32 = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    s32[g] = (rand() < 0.5 ? -1 : 1) * (0.002 + 0.05 * rand());
    b32[g] = (rand() - 0.5) * 0.2;
  }
  const sBytes = encodeFloats(DTYPE[scaleDtype], s32);
  const bBytes = encodeFloats(DTYPE[scaleDtype], b32);
  const scales = new Float32Array(groups);
  const biases = new Float32Array(groups);
  decodeFloats(DTYPE[scaleDtype], sBytes, 0, groups, scales);
  decodeFloats(DTYPE[scaleDtype], bBytes, 0, groups, biases);
  const unpacked = unpack(words, rows, k, bits);
  for (let i = 0; i < q.length; i++) if (unpacked[i] !== q[i]) throw new Error('affine.pack/unpack disagree');
  const ref: QuantTensorRef = {
    weights: misaligned(new Uint8Array(words.buffer), rand),
    scales: misaligned(sBytes, rand),
    biases: misaligned(bBytes, rand),
    n,
    k,
    bits: bits as QuantTensorRef['bits'],
    groupSize: groupSize as 32 | 64 | 128,
    scaleDtype,
    experts,
  };
  return { n, k, bits, groupSize, experts, q, scales, biases, ref };
}

/** Activations with occasional large outliers (like real hidden states), float32. */
export function randomActivations(rand: () => number, m: number, k: number): Float32Array {
  const x = new Float32Array(m * k);
  for (let i = 0; i < x.length; i++) {
    const base = (rand() + rand() + rand() - 1.5) * 2;
    x[i] = rand() < 0.01 ? base * 30 : base;
  }
  return x;
}

export interface JsActivations {
  q: Int8Array;
  /** residual plane (16-bit activations) */
  q2?: Int8Array;
  /** block scales; with two planes divided by 256, as the kernels store them */
  d: Float32Array;
  kpad: number;
}

/** The documented activation scheme, replicated in JS (float32 arithmetic via Math.fround). */
export function quantizeActivationsJs(x: Float32Array, m: number, k: number, activationBits: 8 | 16 = 8): JsActivations {
  const kpad = Math.ceil(k / 64) * 64;
  const q = new Int8Array(m * kpad);
  const q2 = activationBits === 16 ? new Int8Array(m * kpad) : undefined;
  const d = new Float32Array((m * kpad) / 32);
  const f = Math.fround;
  for (let r = 0; r < m; r++) {
    for (let b = 0; b < k / 32; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[r * k + b * 32 + i]!));
      const db = f(amax / 127);
      const id = amax > 0 ? f(127 / amax) : 0;
      for (let i = 0; i < 32; i++) {
        const xv = x[r * k + b * 32 + i]!;
        const qv = rint(f(xv * id));
        q[r * kpad + b * 32 + i] = qv;
        if (q2) q2[r * kpad + b * 32 + i] = Math.max(-127, Math.min(127, rint(f(f(xv - f(db * qv)) * f(id * 256)))));
      }
      d[(r * kpad) / 32 + b] = q2 ? db / 256 : db;
    }
  }
  return q2 ? { q, q2, d, kpad } : { q, d, kpad };
}

export interface Expectation {
  /** f64 result with the int8 activations, i.e. what the kernel computes before float rounding */
  quantized: number;
  /** bound on |kernel − quantized| from float32 rounding */
  tolQuantized: number;
  /** exact f64 product with the float activations */
  exact: number;
  /** a-priori bound on |kernel − exact|: rounding plus half an activation step per element */
  tolExact: number;
  /** Σ|x_k·w_k| (for bounding other float32 implementations such as MLX) */
  absSum: number;
}

/** Expected out[·, n] for activation row `xr` (k floats at xOff) against weight row `row` (expert·n + n). */
export function expect(p: Problem, x: Float32Array, xOff: number, act: JsActivations, actRow: number, row: number): Expectation {
  const { k, groupSize: gs } = p;
  const groups = k / gs;
  let quantized = 0;
  let exact = 0;
  let absTerms = 0;
  let quantErr = 0;
  let absSum = 0;
  for (let g = 0; g < groups; g++) {
    const s = p.scales[row * groups + g]!;
    const b = p.biases[row * groups + g]!;
    let sx = 0;
    let absX = 0;
    for (let j = (g * gs) / 32; j < ((g + 1) * gs) / 32; j++) {
      const dj = act.d[(actRow * act.kpad) / 32 + j]!;
      let isum = 0;
      let absI = 0;
      let codes = 0;
      let absW = 0;
      for (let i = j * 32; i < j * 32 + 32; i++) {
        const qv = p.q[row * k + i]!;
        const xv = x[xOff + i]!;
        // With two planes the integer activation is 256·q + q2 against d/256.
        const xq = act.q2 ? 256 * act.q[actRow * act.kpad + i]! + act.q2[actRow * act.kpad + i]! : act.q[actRow * act.kpad + i]!;
        isum += qv * xq;
        absI += qv * Math.abs(xq);
        codes += xq;
        absW += Math.abs(s * qv + b);
        exact += xv * (s * qv + b);
        absSum += Math.abs(xv * (s * qv + b));
      }
      quantized += s * dj * isum;
      absTerms += Math.abs(s) * dj * absI;
      // The bias term's group sum is of the rounded activations, so the product is Σ w·x̂ exactly.
      sx += dj * codes;
      absX += dj * Math.abs(codes);
      // One plane: |x − d·q| ≤ d/2 per element (+ float32 noise of the scaling, < 2^-20 of it).
      // Two planes: ≤ d/256 = one stored step (d/512 from rounding, doubled when a residual of
      // exactly half a step is clamped to 127), plus the float32 rounding of the residual,
      // u·|x| ≤ u·127·d = 2^-8·(d/256) at most. Each element's error meets its whole weight s·q + b.
      quantErr += absW * (act.q2 ? dj * (1 + 2 ** -8) : (dj / 2) * (1 + 2 ** -20));
    }
    quantized += b * sx;
    absTerms += Math.abs(b) * absX;
  }
  // Float32 operations on any path from a term to the result: per-lane int→float
  // conversions (up to k/4 lane partials), block and group products and sums, the
  // group sums of the rounded x (gs/32 block products and sums), and the final lane reduction.
  const tolQuantized = gamma(k / 4 + 2 * groups + gs + 32) * absTerms;
  return { quantized, tolQuantized, exact, tolExact: tolQuantized + quantErr, absSum };
}

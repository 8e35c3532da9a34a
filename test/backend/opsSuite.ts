// The ops interface against float64 references computed here, shared by every backend
// (mlxOps.test.ts, nativeOps.test.ts). Quantized weights are made and dequantized by
// lib/quant/affine.ts (itself tested bit-exact against mx.quantize) for every bit
// width and group size; the backends' product paths are chosen by the row counts.
import { join } from 'node:path';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Ops, Tensor, Weight } from '../../lib/backend/ops.js';
import { writeSafetensors } from '../../lib/io/safetensorsWriter.js';
import { dequantize, quantizeRtn, SUPPORTED_BITS } from '../../lib/quant/affine.js';
import { normal, tmpDir } from '../helpers.js';

export interface OpsSuiteOptions {
  /**
   * Bound on products with quantized weights, relative to Σ|x·w| per output (linear) or to the
   * largest reference value (per-head products, MoE); dense products are held to 1e-5.
   */
  quantizedRel: number;
  /** Activation rows for linear, one per product path of the backend. */
  linearRows: number[];
  /** Tokens of the MoE test: enough for the backend's many-pairs path. */
  moeTokens: number;
}

const bytes = (a: Float32Array | Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** x [m, k] · W[n, k]ᵀ in float64. */
export function matmulT(x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = 0; c < k; c++) s += x[i * k + c]! * w[j * k + c]!;
    out[i * n + j] = s;
  }
  return out;
}

export function assertClose(got: Float32Array, want: ArrayLike<number>, rel: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
  }
  assert.ok(maxDiff <= rel * Math.max(maxRef, 1e-6), `${what}: max |Δ| ${maxDiff} > ${rel} × max |ref| ${maxRef}`);
}

/** Σ_k |x[i, k]·W[j, k]| per output: what both float rounding and activation rounding errors scale with. */
export function absSums(x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  return matmulT(Array.from(x, Math.abs), Array.from(w, Math.abs), m, n, k);
}

/** Componentwise: |got_i − want_i| ≤ rel·scale_i for every output (immune to cancellation in want). */
export function assertWithin(got: Float32Array, want: ArrayLike<number>, scale: ArrayLike<number>, rel: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= rel * scale[i]!)) assert.unreachable(`${what}: output ${i}: |Δ| ${d} > ${rel} × Σ|x·w| ${scale[i]}`);
  }
}

/** Quantized weights [...lead, rows, cols] written to a safetensors file and loaded back through `ops`. */
export class QuantizedWeights {
  private readonly dir = tmpDir();
  private files = 0;

  constructor(private readonly ops: Ops, private readonly next: () => number) {}

  /** w, its dequantized values, and |scale·q| per element (what activation rounding errors are multiplied by). */
  make(lead: number[], rows: number, cols: number, bits: number, gs: number): { w: Weight; deq: Float32Array; absScaled: Float32Array } {
    const n = lead.reduce((a, b) => a * b, 1) * rows;
    const values = normal(n * cols, 0.5, this.next);
    const q = quantizeRtn(values, n, cols, bits, gs);
    const path = join(this.dir, `w${this.files++}.safetensors`);
    writeSafetensors(path, [
      { name: 'w', dtype: 'U32', shape: [...lead, rows, (cols * bits) / 32], data: bytes(q.words) },
      { name: 's', dtype: 'F32', shape: [...lead, rows, cols / gs], data: bytes(q.scales) },
      { name: 'b', dtype: 'F32', shape: [...lead, rows, cols / gs], data: bytes(q.biases) },
    ]);
    const t = this.ops.loadSafetensors(path);
    const w = this.ops.affine({ weight: t.get('w')!, scales: t.get('s')!, biases: t.get('b')!, bits, groupSize: gs, shape: [...lead, rows, cols] });
    const deq = dequantize(q.words, q.scales, q.biases, n, cols, bits, gs);
    const absScaled = deq.map((v, i) => Math.abs(v - q.biases[Math.floor(i / gs)]!));
    return { w, deq, absScaled };
  }

  file(name: string, tensors: Parameters<typeof writeSafetensors>[1]): Map<string, Tensor> {
    const p = join(this.dir, name);
    writeSafetensors(p, tensors);
    return this.ops.loadSafetensors(p);
  }
}

export function opsSuite(test: Test, ops: Ops, o: OpsSuiteOptions, next: () => number): void {
  const qw = new QuantizedWeights(ops, next);
  const dense = (values: Float32Array, shape: number[]) => ops.dense(ops.constant(values, shape));

  test('quantized linear: bits 2–8 × group sizes 32/64/128 on every product path of the backend', () => {
    for (const bits of SUPPORTED_BITS) {
      for (const gs of [32, 64, 128]) {
        for (const cols of [gs, 3 * gs]) {
          const { w, deq } = qw.make([], 5, cols, bits, gs);
          for (const m of o.linearRows) {
            const x = normal(m * cols, 1, next);
            const got = ops.read(ops.linear(ops.constant(x, [m, cols]), w));
            assertWithin(got, matmulT(x, deq, m, 5, cols), absSums(x, deq, m, 5, cols), o.quantizedRel, `${bits}-bit gs ${gs} K ${cols} rows ${m}`);
          }
        }
      }
    }
  });

  test('dense linear with bias, and x with extra leading axes', () => {
    const W = normal(6 * 16, 1, next);
    const b = normal(6, 1, next);
    const x = normal(2 * 3 * 16, 1, next);
    const want = Array.from(matmulT(x, W, 6, 6, 16), (v, i) => v + b[i % 6]!);
    assertClose(ops.read(ops.linear(ops.constant(x, [2, 3, 16]), dense(W, [6, 16]), dense(b, [6]))), want, 1e-5, 'dense + bias');
  });

  test('embedding rows of quantized tables (3-bit straddles words; 8-bit uses the kernel)', () => {
    for (const bits of [3, 5, 8]) {
      const { w, deq } = qw.make([], 11, 64, bits, 32);
      const ids = [4, 0, 10, 4];
      const want = ids.flatMap((id) => Array.from(deq.subarray(id * 64, id * 64 + 64)));
      assertClose(ops.read(ops.embedding(w, ops.ids(ids))), want, 1e-6, `${bits}-bit embedding`);
    }
    const table = normal(7 * 12, 1, next);
    assertClose(ops.read(ops.embedding(dense(table, [7, 12]), ops.ids([6, 1]))), [...table.subarray(72, 84), ...table.subarray(12, 24)], 0, 'dense embedding');
  });

  test('perHeadLinear: x·W[h]ᵀ and x·W[h], per-head and shared inputs, dense and 3/4-bit', () => {
    const H = 3;
    const out = 8;
    const inp = 64;
    const weights: [string, Weight, Float32Array, number][] = [];
    const d = normal(H * out * inp, 0.5, next);
    weights.push(['dense', dense(d, [H, out, inp]), d, 1e-5]);
    for (const bits of [3, 4]) {
      const q = qw.make([H], out, inp, bits, 32);
      weights.push([`${bits}-bit`, q.w, q.deq, o.quantizedRel]);
    }
    for (const [name, w, vals, rel] of weights) {
      for (const xHeads of [H, 1]) {
        for (const T of [2, 6]) {
          const xT = normal(T * xHeads * inp, 1, next);
          const want = new Float64Array(T * H * out);
          for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) for (let k = 0; k < out; k++) {
            let s = 0;
            for (let i = 0; i < inp; i++) s += xT[(t * xHeads + (xHeads === 1 ? 0 : h)) * inp + i]! * vals[(h * out + k) * inp + i]!;
            want[(t * H + h) * out + k] = s;
          }
          assertClose(ops.read(ops.perHeadLinear(ops.constant(xT, [T, xHeads, inp]), w, true)), want, rel, `${name} transpose, x heads ${xHeads}, T ${T}`);
          // The untransposed product takes float activations on every backend (no activation quantization).
          const xN = normal(T * xHeads * out, 1, next);
          const wantN = new Float64Array(T * H * inp);
          for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) for (let i = 0; i < inp; i++) {
            let s = 0;
            for (let k = 0; k < out; k++) s += xN[(t * xHeads + (xHeads === 1 ? 0 : h)) * out + k]! * vals[(h * out + k) * inp + i]!;
            wantN[(t * H + h) * inp + i] = s;
          }
          assertClose(ops.read(ops.perHeadLinear(ops.constant(xN, [T, xHeads, out]), w, false)), wantN, 1e-5, `${name} no transpose, x heads ${xHeads}, T ${T}`);
        }
      }
    }
  });

  test('rmsNorm over the last axis', () => {
    const x = normal(4 * 24, 2, next);
    const g = normal(24, 1, next);
    const want = new Float64Array(x.length);
    for (let r = 0; r < 4; r++) {
      let ss = 0;
      for (let i = 0; i < 24; i++) ss += x[r * 24 + i]! ** 2;
      const inv = 1 / Math.sqrt(ss / 24 + 1e-5);
      for (let i = 0; i < 24; i++) want[r * 24 + i] = x[r * 24 + i]! * inv * g[i]!;
    }
    assertClose(ops.read(ops.rmsNorm(ops.constant(x, [4, 24]), dense(g, [24]), 1e-5)), want, 1e-6, 'rmsNorm');
  });

  test('rope: adjacent pairs (interleaved) and half-split layouts, at a position offset, with a cos/sin scale', () => {
    const T = 3;
    const H = 2;
    const D = 8;
    const invFreq = [1, 0.3, 0.05, 0.001];
    const offset = 17;
    const scale = 0.9;
    const x = normal(T * H * D, 1, next);
    for (const interleaved of [true, false]) {
      const want = new Float64Array(x.length);
      for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) for (let i = 0; i < D / 2; i++) {
        const a = (offset + t) * invFreq[i]!;
        const [c, s] = [Math.cos(a) * scale, Math.sin(a) * scale];
        const base = (t * H + h) * D;
        const [p, q] = interleaved ? [base + 2 * i, base + 2 * i + 1] : [base + i, base + i + D / 2];
        want[p] = x[p]! * c - x[q]! * s;
        want[q] = x[q]! * c + x[p]! * s;
      }
      const table = ops.prepareRope({ invFreq, scale, interleaved });
      assertClose(ops.read(ops.rope(ops.constant(x, [T, H, D]), table, offset)), want, 1e-5, `rope interleaved=${interleaved}`);
    }
  });

  test('attention: grouped-query, causal over a cached prefix (query t sees keys ≤ S − T + t), keys and values as views', () => {
    for (const [T, S, Hq, Hkv, D, Dv] of [[3, 7, 4, 2, 8, 5], [1, 40, 16, 1, 40, 24], [5, 5, 3, 3, 16, 16]] as const) {
      const q = normal(T * Hq * D, 1, next);
      const k = normal(S * Hkv * D, 1, next);
      const v = normal(S * Hkv * Dv, 1, next);
      const scale = 0.3;
      const want = new Float64Array(T * Hq * Dv);
      for (let t = 0; t < T; t++) for (let h = 0; h < Hq; h++) {
        const kv = Math.floor(h / (Hq / Hkv));
        const visible = S - T + t + 1;
        const scores = Array.from({ length: visible }, (_, j) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[(t * Hq + h) * D + d]! * k[(j * Hkv + kv) * D + d]!;
          return s * scale;
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < Dv; d++) want[(t * Hq + h) * Dv + d] = e.reduce((a, p, j) => a + (p / z) * v[(j * Hkv + kv) * Dv + d]!, 0);
      }
      const got = ops.read(ops.attention(ops.constant(q, [T, Hq, D]), ops.constant(k, [S, Hkv, D]), ops.constant(v, [S, Hkv, Dv]), scale));
      assertClose(got, want, 1e-5, `attention T ${T} S ${S} Hq ${Hq} Hkv ${Hkv}`);
      // The same keys and values as slices of wider rows of a longer buffer (a cache's layout).
      const wide = new Float32Array((S + 2) * Hkv * (D + Dv + 3));
      for (let s = 0; s < S; s++) for (let h = 0; h < Hkv; h++) {
        wide.set(k.subarray((s * Hkv + h) * D, (s * Hkv + h + 1) * D), (s * Hkv + h) * (D + Dv + 3));
        wide.set(v.subarray((s * Hkv + h) * Dv, (s * Hkv + h + 1) * Dv), (s * Hkv + h) * (D + Dv + 3) + D + 3);
      }
      const buf = ops.slice(ops.constant(wide, [S + 2, Hkv, D + Dv + 3]), 0, 0, S);
      const viaViews = ops.attention(ops.constant(q, [T, Hq, D]), ops.slice(buf, 2, 0, D), ops.slice(buf, 2, D + 3, D + 3 + Dv), scale);
      assertClose(ops.read(viaViews), want, 1e-5, `attention over sliced keys/values, T ${T} S ${S}`);
    }
  });

  test('batched: raggedAttention and rope over segments equal each sequence on its own (different lengths, cache states)', () => {
    const [Hq, Hkv, D, Dv] = [4, 2, 8, 6];
    // (queries, keys) per sequence: decode steps over short and long caches, a prefill chunk over a cached prefix.
    const segs = [[1, 9], [3, 3], [1, 1], [4, 20], [1, 33]] as const;
    const qs = segs.map(([T]) => normal(T * Hq * D, 1, next));
    const ks = segs.map(([, S]) => ops.constant(normal(S * Hkv * D, 1, next), [S, Hkv, D]));
    const vs = segs.map(([, S]) => ops.constant(normal(S * Hkv * Dv, 1, next), [S, Hkv, Dv]));
    const segments = segs.map(([T, S]) => ({ tokens: T, offset: S - T }));
    const q = ops.concat(qs.map((x, b) => ops.constant(x, [segs[b]![0], Hq, D])), 0);
    const got = ops.read(ops.raggedAttention(q, ks, vs, segments, 0.4));
    const want = segs.flatMap((_, b) => [...ops.read(ops.attention(ops.constant(qs[b]!, [segs[b]![0], Hq, D]), ks[b]!, vs[b]!, 0.4))]);
    assertClose(got, want, 1e-6, 'raggedAttention vs one attention per sequence');
    const table = ops.prepareRope({ invFreq: [1, 0.3, 0.05, 0.001], scale: 1, interleaved: true });
    const roped = ops.read(ops.rope(q, table, segments));
    const each = segs.flatMap(([T, S], b) => [...ops.read(ops.rope(ops.constant(qs[b]!, [T, Hq, D]), table, S - T))]);
    assertClose(roped, each, 1e-6, 'rope over segments vs one rope per sequence');
    assert.throws(() => ops.raggedAttention(q, ks.slice(1), vs.slice(1), segments.slice(1), 0.4), /segments/);
  });

  test('swiglu: silu(gate)·up', () => {
    const g = normal(40, 3, next);
    const u = normal(40, 1, next);
    const want = Array.from(g, (x, i) => (x / (1 + Math.exp(-x))) * u[i]!);
    assertClose(ops.read(ops.swiglu(ops.constant(g, [5, 8]), ops.constant(u, [5, 8]))), want, 1e-6, 'swiglu');
  });

  test('moe: each token through its routed experts (dense, 3-bit and 4-bit stacks; few- and many-pair paths), weighted and summed', () => {
    const [E, hidden, inter, k] = [4, 32, 64, 2];
    const T = o.moeTokens;
    // token t → experts t mod E and (t + 1 + t mod 3) mod E: two different ones, all experts used
    const indices = Int32Array.from({ length: T * k }, (_, i) => {
      const t = Math.floor(i / k);
      return i % k === 0 ? t % E : (t + 1 + (t % 3)) % E;
    });
    const route = { tokens: T, k, indices, weights: Float32Array.from(normal(T * k, 1, next)) };
    const stacks = (bits: number | null) => {
      if (bits === null) {
        const make = (rows: number, cols: number) => {
          const vals = normal(E * rows * cols, 0.3, next);
          return { w: dense(vals, [E, rows, cols]), deq: vals };
        };
        return { gate: make(inter, hidden), up: make(inter, hidden), down: make(hidden, inter) };
      }
      return { gate: qw.make([E], inter, hidden, bits, 32), up: qw.make([E], inter, hidden, bits, 32), down: qw.make([E], hidden, inter, bits, 32) };
    };
    for (const bits of [null, 3, 4]) {
      const s = stacks(bits);
      for (const rows of [T, 1, 2]) {
        const x = normal(rows * hidden, 1, next);
        const r = { ...route, tokens: rows, indices: route.indices.subarray(0, rows * k), weights: route.weights.subarray(0, rows * k) };
        const want = new Float64Array(rows * hidden);
        for (let t = 0; t < rows; t++) for (let j = 0; j < k; j++) {
          const e = r.indices[t * k + j]!;
          const xt = x.subarray(t * hidden, (t + 1) * hidden);
          const g = matmulT(xt, s.gate.deq.subarray(e * inter * hidden, (e + 1) * inter * hidden), 1, inter, hidden);
          const u = matmulT(xt, s.up.deq.subarray(e * inter * hidden, (e + 1) * inter * hidden), 1, inter, hidden);
          const a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
          const d = matmulT(a, s.down.deq.subarray(e * hidden * inter, (e + 1) * hidden * inter), 1, hidden, inter);
          for (let i = 0; i < hidden; i++) want[t * hidden + i]! += r.weights[t * k + j]! * d[i]!;
        }
        const got = ops.read(ops.moe(ops.constant(x, [rows, hidden]), r, { gate: s.gate.w, up: s.up.w, down: s.down.w }));
        assertClose(got, want, bits === null ? 1e-5 : 2 * o.quantizedRel, `moe ${bits ?? 'dense'} rows ${rows}`);
      }
    }
  });

  test('gatherLinear: chosen rows through chosen matrices of a stack (dense and 4-bit; repeats, any order)', () => {
    const [E, out, inn] = [3, 16, 64];
    const x = normal(5 * inn, 1, next);
    const rows = Int32Array.from([4, 0, 0, 2, 4, 1, 3]);
    const slices = Int32Array.from([2, 0, 1, 2, 0, 1, 1]);
    for (const bits of [null, 4]) {
      const s = bits === null ? (() => {
        const vals = normal(E * out * inn, 0.3, next);
        return { w: dense(vals, [E, out, inn]), deq: vals };
      })() : qw.make([E], out, inn, bits, 32);
      const want = new Float64Array(rows.length * out);
      rows.forEach((r, p) => want.set(matmulT(x.subarray(r * inn, (r + 1) * inn), s.deq.subarray(slices[p]! * out * inn, (slices[p]! + 1) * out * inn), 1, out, inn), p * out));
      const got = ops.read(ops.gatherLinear(ops.constant(x, [5, inn]), s.w, rows, slices));
      assertClose(got, want, bits === null ? 1e-5 : 2 * o.quantizedRel, `gatherLinear ${bits ?? 'dense'}`);
      assert.equal(ops.shape(ops.gatherLinear(ops.constant(x, [5, inn]), s.w, new Int32Array(0), new Int32Array(0))), [0, out]);
    }
  });

  test('noaux_tc routing: bias only selects, groups are kept by their top-2 sum, weights renormalized and scaled', () => {
    // 8 experts in 4 groups of 2; keep 2 groups, choose 2 experts.
    const logits = Float32Array.from([2.0, -1.0, 0.5, 0.4, 1.5, -3.0, 0.0, 0.1]);
    const bias = Float32Array.from([-0.1, 0.0, 0.3, 0.3, -0.9, 0.0, 0.05, 0.05]);
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    // choice = sigmoid + bias; group sums: g0 = 0.781+0.269 = 1.050, g1 = 0.922+0.899 = 1.821,
    // g2 = -0.082+0.047 = -0.035, g3 = 0.55+0.575 = 1.125 → groups 1 and 3.
    // In them the choices are 0.922, 0.899, 0.55, 0.575 → experts 2 and 3; expert 0 (largest
    // score, 0.881) is excluded by its group, expert 4 (0.818) by its bias.
    const r = ops.routeNoAuxTc(ops.constant(logits, [1, 8]), dense(bias, [8]), { topK: 2, nGroup: 4, topkGroup: 2, normTopkProb: true, routedScalingFactor: 2.5 });
    assert.equal(Array.from(r.indices), [2, 3]);
    const [s2, s3] = [sig(0.5), sig(0.4)];
    assertClose(r.weights, [(s2 / (s2 + s3)) * 2.5, (s3 / (s2 + s3)) * 2.5], 1e-6, 'weights');
    const one = ops.routeNoAuxTc(ops.constant(logits, [1, 8]), dense(bias, [8]), { topK: 2, nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 });
    assert.equal(Array.from(one.indices), [2, 3], 'one group: bias still lifts experts 2 and 3 above 0 and 4');
    assertClose(one.weights, [s2, s3], 1e-6, 'unnormalized weights are the raw sigmoid scores');
    const tie = ops.routeNoAuxTc(ops.constant([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [2, 8]), dense(new Float32Array(8), [8]), { topK: 3, nGroup: 1, topkGroup: 1, normTopkProb: true, routedScalingFactor: 1 });
    assert.equal(Array.from(tie.indices), [0, 1, 2, 0, 1, 2], 'ties go to the lower index, per token');
  });

  test('softmax top-k routing, renormalized or not', () => {
    const logits = [Math.log(0.1), Math.log(0.4), Math.log(0.2), Math.log(0.3)];
    const r = ops.routeSoftmaxTopK(ops.constant(logits, [1, 4]), 2, true);
    assert.equal(Array.from(r.indices), [1, 3]);
    assertClose(r.weights, [0.4 / 0.7, 0.3 / 0.7], 1e-6, 'renormalized');
    assertClose(ops.routeSoftmaxTopK(ops.constant(logits, [1, 4]), 2, false).weights, [0.4, 0.3], 1e-6, 'plain softmax');
  });

  test('plumbing: reshape, slice, concat, stack, transpose, broadcast and broadcasting add against index arithmetic', () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    const t = ops.constant(x, [2, 3, 4]); // value = 12a + 4b + c
    const at = (a: number, b: number, c: number) => 12 * a + 4 * b + c;
    assert.equal(ops.shape(ops.reshape(t, [6, 4])), [6, 4]);
    assert.equal(Array.from(ops.read(ops.reshape(t, [4, 6]))), Array.from(x));
    assert.equal(Array.from(ops.read(ops.slice(t, 2, 1, 3))), [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22]);
    assert.equal(Array.from(ops.read(ops.slice(t, -2, 2, 3))), [8, 9, 10, 11, 20, 21, 22, 23]);
    assert.equal(Array.from(ops.read(ops.slice(t, 0, 1, 2))), Array.from(x.subarray(12)));
    const tr = ops.transpose(t, [2, 0, 1]);
    assert.equal(ops.shape(tr), [4, 2, 3]);
    const wantTr: number[] = [];
    for (let c = 0; c < 4; c++) for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) wantTr.push(at(a, b, c));
    assert.equal(Array.from(ops.read(tr)), wantTr);
    assert.equal(Array.from(ops.read(ops.reshape(tr, [8, 3]))), wantTr, 'reshape of a transposed view');
    const cat = ops.concat([ops.slice(t, 2, 3, 4), ops.slice(t, 2, 0, 1)], 2);
    assert.equal(Array.from(ops.read(cat)), [3, 0, 7, 4, 11, 8, 15, 12, 19, 16, 23, 20]);
    const st = ops.stack([ops.slice(t, 0, 0, 1), ops.slice(t, 0, 1, 2)], 1);
    assert.equal(ops.shape(st), [1, 2, 3, 4]);
    assert.equal(Array.from(ops.read(st)), Array.from(x));
    const row = ops.constant([10, 20, 30, 40], [4]);
    assert.equal(Array.from(ops.read(ops.broadcast(ops.reshape(row, [1, 4]), [3, 4]))), [10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40]);
    assert.equal(Array.from(ops.read(ops.add(t, row))), Array.from(x, (v, i) => v + 10 * ((i % 4) + 1)));
    const halves = Array.from({ length: 12 }, (_, i) => {
      const [a, b, c] = [Math.floor(i / 6), Math.floor(i / 2) % 3, i % 2];
      return at(a, b, c) + at(a, b, c + 2);
    });
    assert.equal(Array.from(ops.read(ops.add(ops.slice(t, 2, 0, 2), ops.slice(t, 2, 2, 4)))), halves, 'add of two strided views');
    assert.equal(Array.from(ops.read(ops.zeros([2, 2]))), [0, 0, 0, 0]);
    assert.equal(Array.from(ops.read(ops.ids([5, 0, 7]))), [5, 0, 7]);
  });

  test('writeRows: rows replaced, the rest kept, and views taken earlier never change', () => {
    let buf = ops.writeRows(ops.zeros([4, 2]), ops.constant([1, 2, 3, 4], [2, 2]), 0);
    const early = ops.slice(buf, 0, 0, 2);
    buf = ops.writeRows(buf, ops.constant([5, 6], [1, 2]), 2);
    assert.equal(Array.from(ops.read(buf)), [1, 2, 3, 4, 5, 6, 0, 0]);
    // Overwrite rows the early view covers (as a trimmed cache does): the view keeps its values.
    buf = ops.writeRows(buf, ops.constant([7, 8, 9, 10], [2, 2]), 1);
    assert.equal(Array.from(ops.read(buf)), [1, 2, 7, 8, 9, 10, 0, 0]);
    assert.equal(Array.from(ops.read(early)), [1, 2, 3, 4], 'a view taken before the write is unchanged');
  });

  test('affine weights with inconsistent parts are refused with the shapes named', () => {
    const t = qw.file('bad.safetensors', [
      { name: 'w', dtype: 'U32', shape: [4, 8], data: new Uint8Array(128) },
      { name: 's', dtype: 'F32', shape: [4, 2], data: new Uint8Array(32) },
    ]);
    const w = t.get('w')! as Tensor;
    const s = t.get('s')! as Tensor;
    assert.throws(() => ops.affine({ weight: w, scales: s, biases: s, bits: 4, groupSize: 32, shape: [4, 32] }), /packed words are uint32 \[4,8\], expected uint32 \[4,4\]/);
    assert.throws(() => ops.affine({ weight: w, scales: s, biases: s, bits: 4, groupSize: 16, shape: [4, 64] }), /scales are \[4,2\], expected \[4,4\]/);
  });
}

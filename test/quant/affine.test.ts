import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { roundBf16 } from '../../lib/io/dtype.js';
import { dequantize, pack, quantizeRtn, unpack } from '../../lib/quant/affine.js';
import { quantizeMse } from '../../lib/quant/mse.js';
import { flatF32, flatU32, mx, normal, rng, runSeed, toNested } from '../helpers.js';

const MIN_K: Record<number, number> = { 2: 512, 4: 256, 8: 128 };

/** Random rows with the group shapes that exercise MLX's rule: outliers, all-negative, constant and zero groups. */
function testMatrix(rows: number, cols: number, next: () => number, bf16: boolean): Float32Array {
  const w = normal(rows * cols, 0.02, next);
  for (let i = 0; i < cols; i++) w[i] = -0.01 - next() * 0.05; // row 0: all negative
  for (let i = 0; i < cols; i++) w[cols + i] = 0.0312; // row 1: constant
  for (let i = 0; i < cols; i++) w[2 * cols + i] = 0; // row 2: zeros
  w[3 * cols + 5] = 0.9; // row 3: one positive outlier
  w[3 * cols + 70] = -1.3; // and a negative one
  return bf16 ? w.map(roundBf16) : w;
}

for (const bits of [2, 4, 8]) {
  for (const gs of [32, 64, 128]) {
    test(`${bits}-bit group ${gs}: packed words, scales and biases equal mx.quantize for float32 and bfloat16`, () => {
      const seed = runSeed();
      const next = rng(seed);
      const m = mx();
      const rows = 6;
      const cols = MIN_K[bits]! + gs * 2;
      for (const bf16 of [false, true]) {
        const w = testMatrix(rows, cols, next, bf16);
        const arr = m.array(toNested(w, rows, cols), bf16 ? m.bfloat16 : m.float32);
        const [wq, s, b] = m.quantize(arr, gs, bits);
        const ours = quantizeRtn(w, rows, cols, bits, gs, bf16 ? roundBf16 : Math.fround);
        assert.equal(Array.from(ours.words), Array.from(flatU32(wq.tolist())), `words, seed ${seed}, bf16=${bf16}`);
        assert.equal(Array.from(ours.scales), Array.from(flatF32(s.astype(m.float32).tolist())), `scales, seed ${seed}, bf16=${bf16}`);
        assert.equal(Array.from(ours.biases), Array.from(flatF32(b.astype(m.float32).tolist())), `biases, seed ${seed}, bf16=${bf16}`);
        // Our dequantize against MLX's, on MLX's own quantized data (float32 scales).
        if (!bf16) {
          const theirs = flatF32(m.dequantize(wq, s, b, gs, bits).tolist());
          const mine = dequantize(ours.words, ours.scales, ours.biases, rows, cols, bits, gs);
          assert.equal(Array.from(mine), Array.from(theirs), `dequantize, seed ${seed}`);
        }
      }
    });
  }
}

test('3/5/6-bit packing matches hand-packed bytes (MLX bitstream: LSB first across byte and word boundaries)', () => {
  // 3-bit: values 0..7 then 7..0 → 48 bits = 6 bytes. Written out by hand from the layout
  // v0=B0[2:0] v1=B0[5:3] v2=B0[7:6]|B1[0] v3=B1[3:1] v4=B1[6:4] v5=B1[7]|B2[1:0] v6=B2[4:2] v7=B2[7:5].
  const q3 = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 3, 2, 1, 0, ...new Array(16).fill(0)]);
  const w3 = pack(q3, 1, 32, 3);
  const bytes3 = new Uint8Array(w3.buffer);
  assert.equal(Array.from(bytes3.subarray(0, 6)), [0b10001000, 0b11000110, 0b11111010, 0b01110111, 0b00111001, 0b00000101]);
  // 5-bit: v0=B0[4:0] v1=B0[7:5]|B1[1:0] …; values 31, 1, 16 → B0 = 31 | (1<<5), B1 = (1>>3) | (16<<2)
  const q5 = new Uint8Array(32);
  q5.set([31, 1, 16]);
  const b5 = new Uint8Array(pack(q5, 1, 32, 5).buffer);
  assert.equal(Array.from(b5.subarray(0, 2)), [31 | (1 << 5), 16 << 2]);
  // 6-bit: v0=B0[5:0] v1=B0[7:6]|B1[3:0]<<2; values 63, 0b101101 → B0 = 63 | (0b01<<6), B1 = 0b1011
  const q6 = new Uint8Array(16);
  q6.set([63, 0b101101]);
  const b6 = new Uint8Array(pack(q6, 1, 16, 6).buffer);
  assert.equal(Array.from(b6.subarray(0, 2)), [63 | (0b01 << 6), 0b1011]);
  // A value straddling words: 3-bit element 10 occupies bits 30..32, i.e. w0[31:30] + w1[0].
  const q = new Uint8Array(32);
  q[10] = 0b101;
  const words = pack(q, 1, 32, 3);
  assert.is(words[0]! >>> 30, 0b01);
  assert.is(words[1]! & 1, 0b1);
});

test('pack/unpack round-trip for every width on random codes', () => {
  const seed = runSeed();
  const next = rng(seed);
  for (const bits of [2, 3, 4, 5, 6, 8]) {
    const rows = 5;
    const cols = 96;
    const q = Uint8Array.from({ length: rows * cols }, () => Math.floor(next() * 2 ** bits));
    assert.equal(Array.from(unpack(pack(q, rows, cols, bits), rows, cols, bits)), Array.from(q), `bits ${bits}, seed ${seed}`);
  }
});

test('3/5/6-bit RTN round trip: every element within half a step, except clamped ends of snapped groups', () => {
  const seed = runSeed();
  const next = rng(seed);
  for (const bits of [3, 5, 6]) {
    for (const gs of [32, 64, 128]) {
      const rows = 4;
      const cols = gs * 3;
      const w = normal(rows * cols, 0.02, next);
      const q = quantizeRtn(w, rows, cols, bits, gs);
      const d = dequantize(q.words, q.scales, q.biases, rows, cols, bits, gs);
      const codes = unpack(q.words, rows, cols, bits);
      for (let i = 0; i < w.length; i++) {
        const g = Math.floor(i / gs);
        const step = Math.abs(q.scales[g]!);
        const clamped = codes[i] === 0 || codes[i] === 2 ** bits - 1;
        if (!clamped) assert.ok(Math.abs(d[i]! - w[i]!) <= step / 2 + 1e-7, `bits ${bits} gs ${gs} i ${i}: |${d[i]} - ${w[i]}| > ${step / 2} (seed ${seed})`);
      }
    }
  }
});

test('MSE quantizer: never worse than RTN per tensor, valid codes, and much better at 2-3 bits', () => {
  const seed = runSeed();
  const next = rng(seed);
  for (const bits of [2, 3, 4, 5, 6, 8]) {
    const rows = 16;
    const cols = 256;
    const w = normal(rows * cols, 0.02, next).map(roundBf16);
    const err = (q: ReturnType<typeof quantizeRtn>) => {
      const d = dequantize(q.words, q.scales, q.biases, rows, cols, bits, 64, roundBf16);
      let e = 0;
      for (let i = 0; i < w.length; i++) e += (d[i]! - w[i]!) ** 2;
      return e;
    };
    const rtn = err(quantizeRtn(w, rows, cols, bits, 64, roundBf16));
    const mse = err(quantizeMse(w, rows, cols, bits, 64, roundBf16));
    assert.ok(mse <= rtn, `bits ${bits}: mse ${mse} > rtn ${rtn} (seed ${seed})`);
    if (bits <= 3) assert.ok(mse < 0.85 * rtn, `bits ${bits}: mse ${mse} not clearly below rtn ${rtn} (seed ${seed})`);
  }
});

test.run();

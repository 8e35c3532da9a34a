// MLX affine quantization format (mlx/ops.cpp affine_quantize, backend/cpu/quantized.cpp):
// per group of `groupSize` consecutive elements of a row, w ≈ scale·q + bias with
// q ∈ [0, 2^bits − 1]; each row's q values form one little-endian, LSB-first
// bitstream read as uint32 words (3/5/6-bit values straddle word boundaries).
// Scales can be negative: MLX snaps the group's largest-magnitude endpoint so it
// and 0.0 are represented exactly (see ../shared/reference/mlx-lm.md §2.2).

export const SUPPORTED_BITS = [2, 3, 4, 5, 6, 8] as const;
export const SUPPORTED_GROUP_SIZES = [32, 64, 128] as const;
export type Bits = (typeof SUPPORTED_BITS)[number];

export function isSupportedBits(b: number): b is Bits {
  return (SUPPORTED_BITS as readonly number[]).includes(b);
}

export function isSupportedGroupSize(g: number): boolean {
  return (SUPPORTED_GROUP_SIZES as readonly number[]).includes(g);
}

/** uint32 words per packed row of `cols` values. */
export function packedWords(cols: number, bits: number): number {
  return (cols * bits) / 32;
}

/** Pack `cols` integers per row (rows × cols, row-major) into the MLX bitstream. */
export function pack(q: Uint8Array, rows: number, cols: number, bits: number, out = new Uint32Array(rows * packedWords(cols, bits))): Uint32Array {
  const wpr = packedWords(cols, bits);
  out.fill(0);
  for (let r = 0; r < rows; r++) {
    const base = r * wpr;
    const src = r * cols;
    for (let i = 0, bit = 0; i < cols; i++, bit += bits) {
      const v = q[src + i]!;
      const w = base + (bit >>> 5);
      const off = bit & 31;
      out[w] = (out[w]! | (v << off)) >>> 0;
      if (off + bits > 32) out[w + 1] = (out[w + 1]! | (v >>> (32 - off))) >>> 0;
    }
  }
  return out;
}

/** Inverse of pack. */
export function unpack(words: Uint32Array, rows: number, cols: number, bits: number, out = new Uint8Array(rows * cols)): Uint8Array {
  const wpr = packedWords(cols, bits);
  const mask = (1 << bits) - 1;
  for (let r = 0; r < rows; r++) {
    const base = r * wpr;
    for (let i = 0, bit = 0; i < cols; i++, bit += bits) {
      const w = base + (bit >>> 5);
      const off = bit & 31;
      let v = words[w]! >>> off;
      if (off + bits > 32) v |= words[w + 1]! << (32 - off);
      out[r * cols + i] = v & mask;
    }
  }
  return out;
}

const fround = Math.fround;

/** [min, max] of w[start, start+n). */
export function groupRange(w: Float32Array, start: number, n: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = w[start + i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Round half to even, like std::rint / mx.round. */
export function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface QuantizedRows {
  /** rows × packedWords(cols) */
  words: Uint32Array;
  /** rows × cols/groupSize, float32 values already rounded to the storage dtype */
  scales: Float32Array;
  biases: Float32Array;
}

/** How stored scale/bias values are rounded (the dtype of the source weight). */
export type StorageRounding = (x: number) => number;

/**
 * MLX's round-to-nearest rule, bit-exact with mx.quantize on CPU. MLX evaluates
 * it as a graph of element-wise ops in the weight's dtype, so every intermediate
 * is rounded to that dtype: `arith` is Math.fround for float32 input and
 * roundBf16/roundF16 (of the float32 result) for half-precision input. The same
 * rounding gives the stored scale and bias.
 */
export function quantizeRtn(w: Float32Array, rows: number, cols: number, bits: number, groupSize: number, arith: StorageRounding = fround): QuantizedRows {
  const groups = cols / groupSize;
  const nBins = (1 << bits) - 1;
  const r = (x: number) => arith(fround(x));
  const q = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const biases = new Float32Array(rows * groups);
  const eps = r(1e-7);
  for (let g = 0; g < rows * groups; g++) {
    const start = g * groupSize;
    const [wMin, wMax] = groupRange(w, start, groupSize);
    let scale = Math.max(r(r(wMax - wMin) / nBins), eps);
    const side = Math.abs(wMin) > Math.abs(wMax);
    if (!side) scale = -scale;
    const edge = side ? wMin : wMax;
    const q0 = rint(r(edge / scale));
    let bias = 0;
    if (q0 !== 0) {
      scale = r(edge / q0);
      bias = edge;
    }
    for (let i = 0; i < groupSize; i++) {
      const v = rint(r(r(w[start + i]! - bias) / scale));
      q[start + i] = v < 0 ? 0 : v > nBins ? nBins : v;
    }
    scales[g] = scale;
    biases[g] = bias;
  }
  return { words: pack(q, rows, cols, bits), scales, biases };
}

/** w = scale·q + bias, in float32 (MLX computes in the scales' dtype; for bf16 use `round`). */
export function dequantize(words: Uint32Array, scales: Float32Array, biases: Float32Array, rows: number, cols: number, bits: number, groupSize: number, round: StorageRounding = fround): Float32Array {
  const q = unpack(words, rows, cols, bits);
  const out = new Float32Array(rows * cols);
  const groups = cols / groupSize;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) {
      const g = r * groups + Math.floor(i / groupSize);
      out[r * cols + i] = round(round(scales[g]! * q[r * cols + i]!) + biases[g]!);
    }
  }
  return out;
}

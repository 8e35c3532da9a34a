// compressed-tensors formats (neuralmagic/compressed-tensors, quantized_compressors/):
//  - pack-quantized INT4: `weight_packed` I32 [out, in/8], nibble i of word k is
//    input column 8k+i (LSB first), stored as q+8; `weight_scale` [out, in/gs];
//    optional `weight_zero_point`; w = (q − zp)·scale. Kimi-K2.5's routed experts:
//    group 32, symmetric. The nibble order equals MLX's 4-bit packing, so an INT4
//    group-g source maps losslessly onto MLX 4-bit group g with bias = −8·scale.
//  - nvfp4-pack-quantized: `weight_packed` U8 [out, in/2] (E2M1, low nibble first),
//    `weight_scale` F8_E4M3 [out, in/16], `weight_global_scale` F32 [1];
//    w = e2m1 · scale / global_scale.
import { F8_E4M3_TABLE, f32ToE4m3, FP4_E2M1_VALUES } from '../dtype.js';

/** Dequantize `count` INT4 rows; `packed` holds those rows' little-endian int32 words. */
export function decodeInt4Rows(packed: Uint8Array, scales: Float32Array, count: number, cols: number, groupSize: number, zeroPoints?: Float32Array, out = new Float32Array(count * cols)): Float32Array {
  const groups = cols / groupSize;
  const bytesPerRow = cols / 2;
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < cols; c++) {
      const byte = packed[r * bytesPerRow + (c >> 1)]!;
      const q = (c & 1 ? byte >>> 4 : byte & 0xf) - 8;
      const g = r * groups + Math.floor(c / groupSize);
      out[r * cols + c] = (q - (zeroPoints ? zeroPoints[g]! : 0)) * scales[g]!;
    }
  }
  return out;
}

/**
 * Symmetric INT4 on the [−7, 7] grid Kimi's QAT uses (scale = amax/7), or with `levels` 4 / 8
 * on GSQ's grid {−L/2 … L/2 − 1}·scale (scale = amax/(L/2): codes 6..9 / 4..11). Used to write
 * test checkpoints.
 */
export function encodeInt4(w: Float32Array, rows: number, cols: number, groupSize: number, roundScale: (x: number) => number, levels = 16): { packed: Uint8Array; scales: Float32Array } {
  const [lo, hi, div] = levels === 16 ? [-8, 7, 7] : [-levels / 2, levels / 2 - 1, levels / 2];
  const groups = cols / groupSize;
  const scales = new Float32Array(rows * groups);
  const packed = new Uint8Array((rows * cols) / 2);
  for (let g = 0; g < rows * groups; g++) {
    let amax = 0;
    for (let i = 0; i < groupSize; i++) amax = Math.max(amax, Math.abs(w[g * groupSize + i]!));
    const s = roundScale(amax > 0 ? amax / div : 1);
    scales[g] = s;
    for (let i = 0; i < groupSize; i++) {
      const idx = g * groupSize + i;
      const q = Math.max(lo, Math.min(hi, Math.round(w[idx]! / s))) + 8;
      packed[idx >> 1] = packed[idx >> 1]! | (idx & 1 ? q << 4 : q);
    }
  }
  return { packed, scales };
}

export function decodeNvfp4Rows(packed: Uint8Array, scales: Uint8Array, globalScale: number, count: number, cols: number, out = new Float32Array(count * cols)): Float32Array {
  const groups = cols / 16;
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < cols; c++) {
      const byte = packed[(r * cols + c) >> 1]!;
      const code = c & 1 ? byte >>> 4 : byte & 0xf;
      const v = FP4_E2M1_VALUES[code & 7]! * (code & 8 ? -1 : 1);
      out[r * cols + c] = v * (F8_E4M3_TABLE[scales[r * groups + (c >> 4)]!]! / globalScale);
    }
  }
  return out;
}

function nearestE2m1(x: number): number {
  const a = Math.abs(x);
  let best = 0;
  for (let i = 1; i < FP4_E2M1_VALUES.length; i++) if (Math.abs(FP4_E2M1_VALUES[i]! - a) < Math.abs(FP4_E2M1_VALUES[best]! - a)) best = i;
  return best | (x < 0 ? 8 : 0);
}

/**
 * NVFP4 as llm-compressor makes it: global = 448·6/amax, block scale = e4m3(amax_b/6·global).
 * `tensorAmax` fixes the global scale when a tensor is encoded in row chunks.
 */
export function encodeNvfp4(w: Float32Array, rows: number, cols: number, tensorAmax?: number): { packed: Uint8Array; scales: Uint8Array; globalScale: number } {
  let amax = tensorAmax ?? 0;
  if (tensorAmax === undefined) for (const v of w) amax = Math.max(amax, Math.abs(v));
  const globalScale = Math.fround(amax > 0 ? (448 * 6) / amax : 1);
  const groups = cols / 16;
  const scales = new Uint8Array(rows * groups);
  const packed = new Uint8Array((rows * cols) / 2);
  for (let g = 0; g < rows * groups; g++) {
    let bmax = 0;
    for (let i = 0; i < 16; i++) bmax = Math.max(bmax, Math.abs(w[g * 16 + i]!));
    scales[g] = f32ToE4m3((bmax / 6) * globalScale);
    const decoded = F8_E4M3_TABLE[scales[g]!]! / globalScale;
    for (let i = 0; i < 16; i++) {
      const idx = g * 16 + i;
      const code = decoded > 0 ? nearestE2m1(w[idx]! / decoded) : 0;
      packed[idx >> 1] = packed[idx >> 1]! | (idx & 1 ? code << 4 : code);
    }
  }
  return { packed, scales, globalScale };
}

// MLX-affine weights on node-mlx 0.0.7. What its kernels accept (probed; tests hold the
// results to lib/quant/affine.ts): quantizedMatmul and dequantize handle 2/4/8 bits with
// group sizes 32/64/128 and any K that is a multiple of the group size — the "K ≥ 512/256/
// 128" limits apply only to mx.quantize; quantizedMatmul refuses 3-D (stacked) weights
// with an exception; other bit widths abort the whole process inside the kernel, so they
// never reach it. For those (3/5/6/7 bits) the codes are unpacked with shifts and masks
// over the uint32 words — a row is one LSB-first bitstream, so a 3/5/6-bit code may
// straddle two words (lib/quant/affine.ts) — and dequantized as scale·q + bias.
import type { core } from '@frost-beta/mlx';

type Mx = typeof core;
type MxArray = core.array;

export const KERNEL_BITS: ReadonlySet<number> = new Set([2, 4, 8]);
export const KERNEL_GROUP_SIZES: ReadonlySet<number> = new Set([32, 64, 128]);

export function kernelSupports(bits: number, groupSize: number): boolean {
  return KERNEL_BITS.has(bits) && KERNEL_GROUP_SIZES.has(groupSize);
}

interface UnpackPlan {
  /** Word holding each code's low bits, and its shift. */
  lo: MxArray;
  loShift: MxArray;
  /** For codes that straddle a word boundary: the next word and its left shift; null when none do. */
  hi: { word: MxArray; shift: MxArray; straddles: MxArray } | null;
}

const plans = new Map<string, UnpackPlan>();

function unpackPlan(mx: Mx, cols: number, bits: number): UnpackPlan {
  const key = `${cols}/${bits}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const lo: number[] = [];
  const loShift: number[] = [];
  const hiWord: number[] = [];
  const hiShift: number[] = [];
  const straddles: number[] = [];
  for (let i = 0; i < cols; i++) {
    const bit = i * bits;
    const word = bit >>> 5;
    const off = bit & 31;
    const crosses = off + bits > 32;
    lo.push(word);
    loShift.push(off);
    hiWord.push(crosses ? word + 1 : word);
    hiShift.push(crosses ? 32 - off : 0);
    straddles.push(crosses ? 1 : 0);
  }
  const plan: UnpackPlan = {
    lo: mx.array(lo, mx.int32),
    loShift: mx.array(loShift, mx.uint32),
    hi: straddles.some((s) => s) ? { word: mx.array(hiWord, mx.int32), shift: mx.array(hiShift, mx.uint32), straddles: mx.array(straddles, mx.uint32) } : null,
  };
  plans.set(key, plan);
  return plan;
}

/** Integer codes [..., cols] (uint32) from packed words [..., cols·bits/32]. */
export function unpackCodes(mx: Mx, words: MxArray, cols: number, bits: number): MxArray {
  const plan = unpackPlan(mx, cols, bits);
  let v = mx.rightShift(mx.take(words, plan.lo, -1), plan.loShift);
  if (plan.hi) {
    const high = mx.multiply(mx.leftShift(mx.take(words, plan.hi.word, -1), plan.hi.shift), plan.hi.straddles);
    v = mx.bitwiseOr(v, high);
  }
  return mx.bitwiseAnd(v, mx.array((1 << bits) - 1, mx.uint32));
}

/** scale·q + bias in float32, [..., cols], for any bit width and group size dividing cols. */
export function dequantizeAny(mx: Mx, words: MxArray, scales: MxArray, biases: MxArray, cols: number, bits: number, groupSize: number): MxArray {
  const lead = words.shape.slice(0, -1);
  // Scales may be stored bf16: dequantize in float32 (MLX's kernel computes in the scales' dtype).
  const f32 = (t: MxArray) => (t.dtype === mx.float32 ? t : t.astype(mx.float32));
  if (kernelSupports(bits, groupSize) && lead.length === 1) return mx.dequantize(words, f32(scales), f32(biases), groupSize, bits);
  const q = unpackCodes(mx, words, cols, bits).astype(mx.float32).reshape([...lead, cols / groupSize, groupSize]);
  const w = mx.add(mx.multiply(q, mx.expandDims(f32(scales), -1)), mx.expandDims(f32(biases), -1));
  return w.reshape([...lead, cols]);
}

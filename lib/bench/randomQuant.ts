// Random MLX-affine weights for the kernel benchmarks (benchmarks/kernels.ts, gemv-shapes.ts): any
// bit pattern is a valid packed value, and small bf16 scales and biases keep the outputs finite.
import { randomFillSync } from 'node:crypto';
import type { QuantTensorRef } from '../backend/native/addon.js';
import { f32ToBf16Bits } from '../io/dtype.js';
import type { Bits, SUPPORTED_GROUP_SIZES } from '../quant/affine.js';

/** An [n, k] matrix of `bits`-bit values in groups of `groupSize`, with bf16 scales and biases. */
export function randomQuantMatrix(n: number, k: number, bits: Bits, groupSize: (typeof SUPPORTED_GROUP_SIZES)[number]): QuantTensorRef & { weights: Uint8Array; scales: Uint8Array; biases: Uint8Array } {
  const weights = randomFillSync(new Uint8Array((n * k * bits) / 8));
  const groups = n * (k / groupSize);
  const s = new Uint16Array(groups);
  const b = new Uint16Array(groups);
  for (let g = 0; g < groups; g++) {
    s[g] = f32ToBf16Bits((Math.random() - 0.5) * 0.02);
    b[g] = f32ToBf16Bits((Math.random() - 0.5) * 0.1);
  }
  return { weights, scales: new Uint8Array(s.buffer), biases: new Uint8Array(b.buffer), n, k, bits, groupSize, scaleDtype: 'bf16' };
}

// Bytes a weight takes once the mlx backend has built it (weights.ts): dense weights in float32
// (node-mlx 0.0.7's CPU matmul computes in nothing else), scales and biases as stored, codes of
// widths its kernels lack rewritten at the next width they have (3 → 4, 5/6 → 8 bits: repack.ts).
// Serve's memory budget and generate's pre-load check count these bytes.
import { KERNEL_GROUP_SIZES, kernelSupports } from './affine.js';
import { heldBits } from './repack.js';

export type StoredWeight =
  | { kind: 'dense'; elements: number }
  | { kind: 'affine'; rows: number; cols: number; bits: number; groupSize: number; scaleBytes: number };

export function mlxResidentBytes(w: StoredWeight): number {
  if (w.kind === 'dense') return 4 * w.elements;
  const repacked = !kernelSupports(w.bits, w.groupSize) && KERNEL_GROUP_SIZES.has(w.groupSize);
  const codes = (w.rows * w.cols * (repacked ? heldBits(w.bits) : w.bits)) / 8;
  return codes + 2 * w.scaleBytes * w.rows * (w.cols / w.groupSize);
}

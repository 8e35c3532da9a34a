// A data-free quantizer better than round-to-nearest: per group, search the
// affine grid's scale and offset that minimise the squared reconstruction error
// (the idea of llama.cpp's make_qkx2_quants, written for MLX's affine format).
// For each candidate step count across the group's range it assigns integer
// levels, refits scale and bias by least squares on those levels, and scores the
// fit from the same sums in closed form; the best pair is rounded to the storage
// dtype and the levels are chosen again against the rounded values, so what is
// stored is what was optimised. Any (scale, bias,
// q) triple is valid MLX affine data, so the output loads everywhere.
import { groupRange, pack, type QuantizedRows, rint, type StorageRounding } from './affine.js';

/** Candidate grids: (nBins + k·STEP) steps across [min, max] for k in −SPAN..SPAN. */
export const SPAN = 10;
export const STEP = 0.1;

export function fitGroup(x: Float32Array, off: number, n: number, nBins: number): { scale: number; bias: number } {
  const [mn, mx] = groupRange(x, off, n);
  if (!(mx > mn)) return { scale: 0, bias: mn === Infinity ? 0 : mn };
  let sx = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const v = x[off + i]!;
    sx += v;
    sxx += v * v;
  }
  let bestErr = Infinity;
  let best = { scale: (mx - mn) / nBins, bias: mn };
  for (let k = -SPAN; k <= SPAN; k++) {
    const steps = nBins + k * STEP;
    if (steps <= 0) continue;
    const inv = steps / (mx - mn);
    let sq = 0;
    let sqq = 0;
    let sqx = 0;
    for (let i = 0; i < n; i++) {
      const v = x[off + i]!;
      let l = Math.round(inv * (v - mn));
      l = l < 0 ? 0 : l > nBins ? nBins : l;
      sq += l;
      sqq += l * l;
      sqx += l * v;
    }
    const det = n * sqq - sq * sq;
    if (det <= 0) continue;
    const scale = (n * sqx - sq * sx) / det;
    const bias = (sqq * sx - sq * sqx) / det;
    // Σ(s·l + b − x)² expanded over the sums already taken, for these levels l.
    const err = scale * scale * sqq + 2 * scale * bias * sq + n * bias * bias - 2 * scale * sqx - 2 * bias * sx + sxx;
    if (err < bestErr) {
      bestErr = err;
      best = { scale, bias };
    }
  }
  return best;
}

/**
 * Quantize rows × cols (row-major) to `bits` with per-group MSE-optimal affine
 * parameters. `store` rounds scale and bias to the storage dtype.
 */
export function quantizeMse(w: Float32Array, rows: number, cols: number, bits: number, groupSize: number, store: StorageRounding): QuantizedRows {
  const groups = cols / groupSize;
  const nBins = (1 << bits) - 1;
  const q = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const biases = new Float32Array(rows * groups);
  for (let g = 0; g < rows * groups; g++) {
    const off = g * groupSize;
    const fit = fitGroup(w, off, groupSize, nBins);
    let scale = store(fit.scale);
    const bias = store(fit.bias);
    if (scale === 0) scale = store(1e-7);
    for (let i = 0; i < groupSize; i++) {
      const l = rint((w[off + i]! - bias) / scale);
      q[off + i] = l < 0 ? 0 : l > nBins ? nBins : l;
    }
    scales[g] = scale;
    biases[g] = bias;
  }
  return { words: pack(q, rows, cols, bits), scales, biases };
}

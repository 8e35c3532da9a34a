// Importance-weighted scale/bias fitting ("wmse"), the JavaScript reference of
// native/src/wmse.cc: the weighted form of mse.ts. Per group it minimises
// Σ wᵢ·(s·lᵢ + b − xᵢ)² over the affine grid:
// 1. the 21 candidate grids of mse.ts, each refitted by weighted least squares (the 2×2
//    normal equations in closed form, llama.cpp's make_qkx2_quants without its min ≤ 0);
// 2. from the best, assign → refit (Lloyd) while the weighted error falls: nearest levels are
//    optimal for fixed (s, b) whatever the weights, the refit is optimal for fixed levels;
// 3. storage-aware rounding: the stored scale and bias are bf16/f16, so both neighbours in the
//    storage dtype of each, and the plain mse fit, are scored with the levels they would get;
//    the lowest weighted error is stored. Including mse's own result makes the weighted error
//    never above mse's on any group.
// Weights: a prior from the weights themselves (groupWeights), times the imatrix when given
// (by default llama.cpp's qw·√(σ² + x²), ggml-quants.c quantize_row_q4_K_impl).
import type { DType } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import { groupRange, pack, type QuantizedRows, rint, type StorageRounding } from './affine.js';
import { fitGroup, SPAN, STEP } from './mse.js';

/** Assign → refit rounds after the grid search (each one only taken while it lowers the error). */
export const LLOYD_ROUNDS = 32;

/**
 * The weight a group's element gets from its own value, multiplied by the imatrix column's mean x²
 * when there is one (`MLXK_WMSE_PRIOR`, for measuring them against each other):
 * x2 = σ²/4 + x² (ik_llama.cpp IQ2_K/IQ3_K; the data-free default), absx = √σ² + |x| (llama.cpp
 * Q4_K), sqrt = √(σ² + x²) (llama.cpp's form beside an imatrix, quantize_row_q4_K_impl), uniform = 1
 * (with an imatrix: the diagonal of the layer's input Hessian alone). σ² = 2·mean(x²) over the group.
 */
export type WmsePrior = 'x2' | 'absx' | 'sqrt' | 'uniform';
export const WMSE_PRIORS: readonly WmsePrior[] = ['x2', 'absx', 'sqrt', 'uniform'];
export const DEFAULT_WMSE_PRIOR: WmsePrior = 'x2';
/**
 * With an imatrix: the Hessian diagonal alone. Chosen on held-out calibration text
 * (benchmarks/wmse-heldout.sh, benchmarks/results/wmse-tiny-kimi.md): lowest KL at 3 and 4 bits
 * of the three priors and mse; llama.cpp's sqrt form was worse than mse at 3 and 4 bits there.
 */
export const DEFAULT_IMATRIX_PRIOR: WmsePrior = 'uniform';

/** The prior in effect: MLXK_WMSE_PRIOR, else the default for fits with or without an imatrix. */
export function wmsePrior(withImatrix = false): WmsePrior {
  const v = process.env.MLXK_WMSE_PRIOR;
  if (v === undefined || v === '') return withImatrix ? DEFAULT_IMATRIX_PRIOR : DEFAULT_WMSE_PRIOR;
  if (!(WMSE_PRIORS as readonly string[]).includes(v)) throw new MlxkError(`MLXK_WMSE_PRIOR: "${v}" is not one of ${WMSE_PRIORS.join(', ')}`);
  return v as WmsePrior;
}

/** Per-element weights of one group x[off…off+n) into `out`: the prior of each value, times imp (the group's columns of an imatrix row) when given. */
export function groupWeights(x: Float32Array, off: number, n: number, imp: Float32Array | null, impOff: number, prior: WmsePrior, out: Float64Array): void {
  let sum2 = 0;
  for (let i = 0; i < n; i++) sum2 += x[off + i]! * x[off + i]!;
  const sigma2 = (2 * sum2) / n;
  for (let i = 0; i < n; i++) {
    const v = x[off + i]!;
    const own = prior === 'x2' ? 0.25 * sigma2 + v * v : prior === 'absx' ? Math.sqrt(sigma2) + Math.abs(v) : prior === 'sqrt' ? Math.sqrt(sigma2 + v * v) : 1;
    out[i] = imp ? imp[impOff + i]! * own : own;
  }
}

/** Bit step between neighbouring values of the storage dtype, in float32 bits. */
function storageStep(dtype: DType): number {
  return dtype === 'BF16' ? 0x10000 : dtype === 'F16' ? 0x2000 : 1;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The storage value next to r (itself a storage value) toward `up` or down, rounded back to the dtype. */
function neighbour(r: number, up: boolean, step: number, store: StorageRounding): number {
  f32[0] = r;
  const u = u32[0]!;
  if (r === 0) u32[0] = up ? step : (0x80000000 | step) >>> 0;
  else u32[0] = (r > 0) === up ? u + step : u - step;
  return store(f32[0]!);
}

/** The one or two storage values bracketing v: its nearest, then the other side's. */
function bracket(v: number, step: number, store: StorageRounding): number[] {
  const r = store(v);
  return r === v || !Number.isFinite(r) ? [r] : [r, neighbour(r, v > r, step, store)];
}

/** Weighted error of (scale, bias) with the levels assignLevels gives them. */
function storedError(x: Float32Array, off: number, n: number, w: Float64Array, nBins: number, scale: number, bias: number): number {
  let err = 0;
  for (let i = 0; i < n; i++) {
    const l = clampLevel(rint((x[off + i]! - bias) / scale), nBins);
    const d = scale * l + bias - x[off + i]!;
    err += w[i]! * d * d;
  }
  return err;
}

function clampLevel(l: number, nBins: number): number {
  return l < 0 ? 0 : l > nBins ? nBins : l;
}

interface Fit {
  scale: number;
  bias: number;
  err: number;
}

/** Weighted LS of x ≈ s·l + b for fixed levels, from the sums; null when the levels do not determine both. */
function solve(sw: number, swx: number, swxx: number, swq: number, swqq: number, swqx: number): Fit | null {
  const det = sw * swqq - swq * swq;
  if (!(det > 0)) return null;
  const scale = (sw * swqx - swq * swx) / det;
  const bias = (swqq * swx - swq * swqx) / det;
  // Σw(s·l + b − x)² expanded over the same sums.
  const err = scale * scale * swqq + 2 * scale * bias * swq + sw * bias * bias - 2 * scale * swqx - 2 * bias * swx + swxx;
  return { scale, bias, err };
}

/**
 * The weighted fit of one group in float64 (steps 1–2): the best candidate grid, then Lloyd
 * rounds. `w` must have a positive sum. Null when the group is constant or no grid separates it.
 */
export function weightedFit(x: Float32Array, off: number, n: number, w: Float64Array, nBins: number): Fit | null {
  const [mn, mx] = groupRange(x, off, n);
  if (!(mx > mn)) return null;
  let sw = 0;
  let swx = 0;
  let swxx = 0;
  for (let i = 0; i < n; i++) {
    const v = x[off + i]!;
    sw += w[i]!;
    swx += w[i]! * v;
    swxx += w[i]! * v * v;
  }
  let best: Fit | null = null;
  for (let k = -SPAN; k <= SPAN; k++) {
    const steps = nBins + k * STEP;
    const inv = steps / (mx - mn);
    let swq = 0;
    let swqq = 0;
    let swqx = 0;
    for (let i = 0; i < n; i++) {
      const v = x[off + i]!;
      let l = Math.round(inv * (v - mn));
      l = l > nBins ? nBins : l;
      swq += w[i]! * l;
      swqq += w[i]! * l * l;
      swqx += w[i]! * l * v;
    }
    const f = solve(sw, swx, swxx, swq, swqq, swqx);
    if (f && (!best || f.err < best.err)) best = f;
  }
  if (!best) return null;
  for (let round = 0; round < LLOYD_ROUNDS && best.scale !== 0; round++) {
    let swq = 0;
    let swqq = 0;
    let swqx = 0;
    for (let i = 0; i < n; i++) {
      const v = x[off + i]!;
      const l = clampLevel(rint((v - best.bias) / best.scale), nBins);
      swq += w[i]! * l;
      swqq += w[i]! * l * l;
      swqx += w[i]! * l * v;
    }
    const f = solve(sw, swx, swxx, swq, swqq, swqx);
    if (!f || !(f.err < best.err)) break;
    best = f;
  }
  return best;
}

/**
 * The stored (scale, bias) of one group (step 3): storage values whose nearest-level codes have
 * the lowest weighted error among the bracketing storage values of the weighted fit and mse's fit.
 */
export function fitGroupWeighted(x: Float32Array, off: number, n: number, weights: Float64Array, nBins: number, dtype: DType, store: StorageRounding): { scale: number; bias: number } {
  const eps = store(1e-7);
  const stored = (s: number) => (s === 0 ? eps : s);
  const plain = fitGroup(x, off, n, nBins);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += weights[i]!;
  const w = sum > 0 ? weights : new Float64Array(n).fill(1);
  let best = { scale: stored(store(plain.scale)), bias: store(plain.bias) };
  const fit = weightedFit(x, off, n, w, nBins);
  if (!fit) return best;
  let bestErr = storedError(x, off, n, w, nBins, best.scale, best.bias);
  const step = storageStep(dtype);
  for (const s of bracket(fit.scale, step, store)) {
    for (const b of bracket(fit.bias, step, store)) {
      const scale = stored(s);
      const err = storedError(x, off, n, w, nBins, scale, b);
      if (err < bestErr) {
        bestErr = err;
        best = { scale, bias: b };
      }
    }
  }
  return best;
}

/** Column importance for the rows of one job: one imatrix row [cols] shared by every row, or null. */
export interface WmseWeights {
  importance: Float32Array | null;
  prior: WmsePrior;
}

/** Quantize rows × cols with importance-weighted per-group fits (the codes are each value's nearest level). */
export function quantizeWmse(w: Float32Array, rows: number, cols: number, bits: number, groupSize: number, dtype: DType, store: StorageRounding, weights: WmseWeights): QuantizedRows {
  const groups = cols / groupSize;
  const nBins = (1 << bits) - 1;
  const q = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const biases = new Float32Array(rows * groups);
  const wts = new Float64Array(groupSize);
  for (let g = 0; g < rows * groups; g++) {
    const off = g * groupSize;
    groupWeights(w, off, groupSize, weights.importance, (g % groups) * groupSize, weights.prior, wts);
    const { scale, bias } = fitGroupWeighted(w, off, groupSize, wts, nBins, dtype, store);
    for (let i = 0; i < groupSize; i++) q[off + i] = clampLevel(rint((w[off + i]! - bias) / scale), nBins);
    scales[g] = scale;
    biases[g] = bias;
  }
  return { words: pack(q, rows, cols, bits), scales, biases };
}

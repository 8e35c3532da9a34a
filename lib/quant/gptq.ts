// GPTQ (Frantar et al. 2022, Algorithm 1) into the MLX affine format, the JavaScript
// reference of native/src/gptq.cc. Columns are quantized one at a time and each one's
// rounding error, divided by the diagonal of the upper Cholesky factor U of H⁻¹, is
// pushed into the columns not yet quantized along row j of U, so the layer's output error
// ‖(Ŵ − W)X‖² = tr(ΔW·H·ΔWᵀ) stays small where the inputs X are large (H = XᵀX).
// Group parameters come from the importance-weighted fit (wmse.ts, diag H as the weights)
// when a group's first column is reached; with activation order (columns by descending
// diag H) every group is fitted on the unquantized weights first ("static groups"), so each
// column keeps its group and the output is plain MLX affine data. tools/gptq_reference.py is the float64 oracle both are tested against.
import { MlxkError } from '../io/errors.js';
import type { DType } from '../io/dtype.js';
import { rint, type StorageRounding } from './affine.js';
import { fitGroup } from './mse.js';
import { fitGroupWeighted } from './wmse.js';

/**
 * The stored (scale, bias) of one group of `n` values at x[off…], given per-column weights (the
 * diagonal of the damped H over the group's columns), already rounded to the storage dtype.
 */
export type GroupFitter = (x: Float32Array, off: number, n: number, weights: Float64Array, nBins: number) => { scale: number; bias: number };

/** The importance-weighted fit (wmse.ts) with diag H as the weights: what GPTQ uses. */
export function weightedFitter(dtype: DType, store: StorageRounding): GroupFitter {
  return (x, off, n, weights, nBins) => fitGroupWeighted(x, off, n, weights, nBins, dtype, store);
}

/** mse's unweighted search, rounded to storage: what GPTQ used before the weighted fit, kept to compare the two. */
export function plainFitter(store: StorageRounding): GroupFitter {
  return (x, off, n, _weights, nBins) => {
    const f = fitGroup(x, off, n, nBins);
    const scale = store(f.scale);
    return { scale: scale === 0 ? store(1e-7) : scale, bias: store(f.bias) };
  };
}

export interface HessianFactor {
  cols: number;
  /** H with unreached columns given the mean live diagonal and λ added: what GPTQ and learned rounding minimise against. */
  damped: Float64Array;
  lambda: number;
  /** Columns no calibration input reached (H_jj = 0). */
  deadColumns: number;
  /** Times λ was multiplied by 10 because the damped matrix was not positive definite in floating point. */
  dampRaised: number;
  /** Column processing order: identity, or by descending diag H (activation order). */
  perm: Int32Array;
  /** Upper Cholesky factor of (H_damped[perm, perm])⁻¹, row-major cols × cols. */
  u: Float64Array;
}

export interface QuantCodes {
  /** rows × cols integer levels in [0, 2^bits − 1], original column order */
  codes: Uint8Array;
  /** rows × cols/groupSize, already rounded to the storage dtype */
  scales: Float32Array;
  biases: Float32Array;
}

/** Unreached columns get the mean live diagonal (1 when none is live); then λ = damp·mean(diag) on the diagonal. */
export function dampHessian(h: Float64Array, n: number, damp: number): { damped: Float64Array; lambda: number; dead: number } {
  const d = new Float64Array(h);
  let live = 0;
  let liveSum = 0;
  for (let j = 0; j < n; j++) {
    const v = d[j * n + j]!;
    if (v > 0) {
      live++;
      liveSum += v;
    }
  }
  const fill = live > 0 ? liveSum / live : 1;
  for (let j = 0; j < n; j++) if (!(d[j * n + j]! > 0)) d[j * n + j] = fill;
  let mean = 0;
  for (let j = 0; j < n; j++) mean += d[j * n + j]!;
  const lambda = damp * (mean / n);
  for (let j = 0; j < n; j++) d[j * n + j] += lambda;
  return { damped: d, lambda, dead: n - live };
}

/** In place: a ← its lower Cholesky factor (upper triangle left as is); false when a pivot is not positive. */
function choleskyLower(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    let s = a[j * n + j]!;
    for (let k = 0; k < j; k++) s -= a[j * n + k]! * a[j * n + k]!;
    if (!(s > 0) || !Number.isFinite(s)) return false;
    const d = Math.sqrt(s);
    a[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = a[i * n + j]!;
      for (let k = 0; k < j; k++) t -= a[i * n + k]! * a[j * n + k]!;
      a[i * n + j] = t / d;
    }
  }
  return true;
}

/**
 * The upper Cholesky factor U of D⁻¹ without forming D⁻¹: with J the reversal,
 * J·D·J = L·Lᵀ gives D = (J L J)(J L J)ᵀ with J L J upper, so U = (J L J)⁻¹ = J·L⁻¹·J.
 */
function inverseCholeskyUpper(d: Float64Array, n: number): Float64Array | null {
  const b = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i * n + j] = d[(n - 1 - i) * n + (n - 1 - j)]!;
  if (!choleskyLower(b, n)) return null;
  // L⁻¹ by forward substitution, column by column.
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / b[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += b[i * n + k]! * inv[k * n + j]!;
      inv[i * n + j] = -s / b[i * n + i]!;
    }
  }
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = inv[(n - 1 - i) * n + (n - 1 - j)]!;
  return u;
}

/** Columns by descending diagonal, ties by index (numpy's stable argsort of −diag). */
export function activationOrder(damped: Float64Array, n: number): Int32Array {
  const idx = Array.from({ length: n }, (_, j) => j);
  idx.sort((a, b) => damped[b * n + b]! - damped[a * n + a]! || a - b);
  return Int32Array.from(idx);
}

export const MAX_DAMP_RAISES = 6;

/** Computes U for a damped, permuted H, or null when not positive definite (the JS reference, or native gptqFactor). */
export type Factorizer = (damped: Float64Array, n: number, perm: Int32Array) => Float64Array | null;

export const jsFactorizer: Factorizer = (damped, n, perm) => {
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) p[i * n + j] = damped[perm[i]! * n + perm[j]!]!;
  return inverseCholeskyUpper(p, n);
};

/** Damps H, orders its columns and factors the inverse; raises λ tenfold (up to 6 times) when the factorization fails. */
export function factorHessian(h: Float64Array, n: number, opts: { damp: number; actOrder: boolean }, factorize: Factorizer = jsFactorizer): HessianFactor {
  const { damped, lambda, dead } = dampHessian(h, n, opts.damp);
  const perm = opts.actOrder ? activationOrder(damped, n) : Int32Array.from({ length: n }, (_, j) => j);
  let lam = lambda;
  for (let raised = 0; raised <= MAX_DAMP_RAISES; raised++) {
    const u = factorize(damped, n, perm);
    if (u) return { cols: n, damped, lambda: lam, deadColumns: dead, dampRaised: raised, perm, u };
    const extra = lam * 9 || 1e-8;
    for (let j = 0; j < n; j++) damped[j * n + j] += extra;
    lam += extra;
  }
  throw new MlxkError(`GPTQ: the Hessian (${n} columns) is not positive definite even with λ = ${lam}`, 'the calibration inputs of this layer are degenerate (NaN or infinite activations?)');
}

export interface GptqOptions {
  bits: number;
  groupSize: number;
  /** The storage dtype of scales and biases, and its rounding. */
  dtype: DType;
  store: StorageRounding;
  /** The group fit; the weighted fit by default. */
  fit?: GroupFitter;
}

/** The group's values as float32 (what the C++ fits on), fitted. */
function fitInto(fit: GroupFitter, vals: Float64Array, off: number, gs: number, weights: Float64Array, nBins: number, tmp: Float32Array): [number, number] {
  for (let i = 0; i < gs; i++) tmp[i] = vals[off + i]!;
  const f = fit(tmp, 0, gs, weights, nBins);
  return [f.scale, f.bias];
}

/** GPTQ of `rows` rows of W [rows, cols] against a factored Hessian. */
export function gptqRows(w: Float32Array, rows: number, cols: number, f: HessianFactor, opts: GptqOptions): QuantCodes {
  const { bits, groupSize: gs } = opts;
  const fit = opts.fit ?? weightedFitter(opts.dtype, opts.store);
  const nBins = (1 << bits) - 1;
  const groups = cols / gs;
  const n = cols;
  const actOrder = f.perm.some((p, j) => p !== j);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const biases = new Float32Array(rows * groups);
  const diagW = new Float64Array(cols);
  for (let j = 0; j < cols; j++) diagW[j] = f.damped[j * n + j]!;
  const tmp = new Float32Array(gs);
  const orig = new Float64Array(cols);
  const wp = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) orig[j] = w[r * cols + j]!;
    const sc = scales.subarray(r * groups, (r + 1) * groups);
    const bi = biases.subarray(r * groups, (r + 1) * groups);
    if (actOrder) for (let g = 0; g < groups; g++) [sc[g], bi[g]] = fitInto(fit, orig, g * gs, gs, diagW.subarray(g * gs, (g + 1) * gs), nBins, tmp);
    for (let j = 0; j < n; j++) wp[j] = orig[f.perm[j]!]!;
    for (let j = 0; j < n; j++) {
      const col = f.perm[j]!;
      const g = Math.floor(col / gs);
      if (!actOrder && col % gs === 0) [sc[g], bi[g]] = fitInto(fit, wp, j, gs, diagW.subarray(col, col + gs), nBins, tmp);
      const s = sc[g]!;
      const b = bi[g]!;
      let q = rint((wp[j]! - b) / s);
      q = q < 0 ? 0 : q > nBins ? nBins : q;
      codes[r * cols + col] = q;
      const err = (wp[j]! - (s * q + b)) / f.u[j * n + j]!;
      for (let k = j + 1; k < n; k++) wp[k] -= err * f.u[j * n + k]!;
    }
  }
  return { codes, scales, biases };
}

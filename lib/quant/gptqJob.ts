// Quantizing one weight matrix against its Hessian H = XᵀX: GPTQ or learned rounding
// on the C++ kernels when they are built (bit-identical to the JavaScript references,
// which MLXK_QUANTIZE=js selects), then the guard that makes the promise hold on every
// matrix: the result is compared with round-to-nearest and the MSE fit on the layer's
// output error tr(ΔW·H·ΔWᵀ), and the best of them is kept.
import { gptqFactor, gptqQuantize, hessianObjective as nativeObjective, refineCodes, type CodedWeights } from '../backend/native/addon.js';
import { MlxkError } from '../io/errors.js';
import { roundingFor, type DType } from '../io/dtype.js';
import { pack, unpack } from './affine.js';
import { factorHessian, gptqRows, type HessianFactor, jsFactorizer, type QuantCodes } from './gptq.js';
import { hessianObjective, learnedRows, refitRows } from './learned.js';
import { runQuantizeJob, SCALE_DTYPE, useNative } from './quantizeJob.js';

export type HessianMethod = 'gptq' | 'learned';

export interface HessianQuantOptions {
  bits: number;
  groupSize: number;
  dtype: DType;
  method: HessianMethod;
  /** λ = damp·mean(diag H) (GPTQ's percdamp). */
  damp: number;
  actOrder: boolean;
  /** Rounds of learned rounding (method 'learned'). */
  iters: number;
}

/** (scale, bias) refit sweeps after GPTQ's rounding. */
export const REFIT_SWEEPS = 2;

/**
 * Switches for measuring the pieces of the method on held-out calibration text
 * (benchmarks/gptq-tune.sh), read from the environment so the defaults stay one code path:
 * MLXK_GPTQ_REFIT (refit sweeps, default 2), MLXK_GPTQ_GUARD=off (keep the method's result
 * even where RTN or mse has the lower output error), MLXK_GPTQ_START=mse (refit and learned
 * rounding start from the mse fit instead of GPTQ's rounding).
 */
export interface Experiment {
  refitSweeps: number;
  guard: boolean;
  start: 'gptq' | 'mse';
}

export function experiment(env: NodeJS.ProcessEnv = process.env): Experiment {
  const sweeps = env.MLXK_GPTQ_REFIT ?? String(REFIT_SWEEPS);
  if (!/^\d+$/.test(sweeps)) throw new MlxkError(`MLXK_GPTQ_REFIT=${sweeps}: expected a count of refit sweeps (0, 1, 2, …)`);
  const guard = env.MLXK_GPTQ_GUARD ?? 'on';
  if (guard !== 'on' && guard !== 'off') throw new MlxkError(`MLXK_GPTQ_GUARD=${guard}: expected on or off`);
  const start = env.MLXK_GPTQ_START ?? 'gptq';
  if (start !== 'gptq' && start !== 'mse') throw new MlxkError(`MLXK_GPTQ_START=${start}: expected gptq or mse`);
  return { refitSweeps: Number(sweeps), guard: guard === 'on', start };
}

export function factor(h: Float64Array, n: number, opts: { damp: number; actOrder: boolean; dtype: DType }): HessianFactor {
  return factorHessian(h, n, opts, useNative(opts.dtype) ? gptqFactor : jsFactorizer);
}

/** GPTQ (+ refit, + learned rounding) of W [rows, cols] against a factored Hessian. */
export function quantizeWithHessian(w: Float32Array, rows: number, cols: number, f: HessianFactor, opts: HessianQuantOptions, ex: Experiment = experiment()): CodedWeights {
  const iters = opts.method === 'learned' ? opts.iters : 0;
  if (ex.start === 'mse') {
    const q = plainResult(w, rows, cols, opts, 'mse');
    if (useNative(opts.dtype)) {
      const words = refineCodes(w, rows, cols, q.codes, q.scales, q.biases, f.damped, opts.bits, opts.groupSize, SCALE_DTYPE[opts.dtype], ex.refitSweeps, iters);
      return { ...q, words };
    }
    return refineJs(w, rows, cols, q, f, opts, ex.refitSweeps, iters);
  }
  if (useNative(opts.dtype)) return gptqQuantize(w, rows, cols, f.damped, f.u, f.perm, opts.bits, opts.groupSize, SCALE_DTYPE[opts.dtype], ex.refitSweeps, iters);
  const store = roundingFor(opts.dtype);
  const q = gptqRows(w, rows, cols, f, { bits: opts.bits, groupSize: opts.groupSize, dtype: opts.dtype, store });
  return refineJs(w, rows, cols, q, f, opts, ex.refitSweeps, iters);
}

function refineJs(w: Float32Array, rows: number, cols: number, q: QuantCodes, f: HessianFactor, opts: HessianQuantOptions, sweeps: number, iters: number): CodedWeights {
  const ro = { bits: opts.bits, groupSize: opts.groupSize, store: roundingFor(opts.dtype) };
  refitRows(w, rows, cols, q, f.damped, ro, sweeps);
  if (iters > 0) learnedRows(w, rows, cols, q, f.damped, { ...ro, iters });
  return { ...q, words: pack(q.codes, rows, cols, opts.bits) };
}

/** Round-to-nearest or the mse fit of W, with its integer codes. */
function plainResult(w: Float32Array, rows: number, cols: number, opts: HessianQuantOptions, method: 'rtn' | 'mse'): CodedWeights {
  const r = runQuantizeJob({ w: w.slice(), rows, cols, bits: opts.bits, groupSize: opts.groupSize, method, dtype: opts.dtype });
  return { codes: unpack(r.words, rows, cols, opts.bits), words: r.words, scales: r.scales, biases: r.biases };
}

export function objective(w: Float32Array, rows: number, cols: number, q: CodedWeights, groupSize: number, h: Float64Array, dtype: DType): number {
  if (useNative(dtype)) return nativeObjective(w, rows, cols, q.codes, q.scales, q.biases, groupSize, h);
  return hessianObjective(w, rows, cols, q, groupSize, h);
}

export interface GuardedResult extends CodedWeights {
  /** The method whose result was kept. */
  kept: HessianMethod | 'rtn' | 'mse';
  /** tr(ΔW·H·ΔWᵀ) of the kept result, of round-to-nearest and of the MSE fit (H undamped). */
  error: number;
  rtnError: number;
  mseError: number;
  /** Σw² and Σ(ŵ − w)² of the kept result, for the weight-space relative RMS error. */
  sqErr: number;
  sqRef: number;
}

/**
 * Quantizes with `opts.method`, then keeps whichever of it, RTN and the MSE fit has the lowest
 * output error on `h` (the undamped Hessian the calibration measured), so the output error is
 * never above the simpler methods' on any matrix.
 */
export function quantizeGuarded(w: Float32Array, rows: number, cols: number, h: Float64Array, f: HessianFactor, opts: HessianQuantOptions, ex: Experiment = experiment()): GuardedResult {
  const main = quantizeWithHessian(w, rows, cols, f, opts, ex);
  const rtn = plainResult(w, rows, cols, opts, 'rtn');
  const mse = plainResult(w, rows, cols, opts, 'mse');
  const err = (q: CodedWeights) => objective(w, rows, cols, q, opts.groupSize, h, opts.dtype);
  const candidates: [GuardedResult['kept'], CodedWeights, number][] = [[opts.method, main, err(main)], ['rtn', rtn, err(rtn)], ['mse', mse, err(mse)]];
  let best = candidates[0]!;
  if (ex.guard) for (const c of candidates) if (c[2] < best[2]) best = c;
  const [kept, q, error] = best;
  let sqErr = 0;
  let sqRef = 0;
  const groups = cols / opts.groupSize;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const g = r * groups + Math.floor(j / opts.groupSize);
      const v = w[r * cols + j]!;
      const d = q.scales[g]! * q.codes[r * cols + j]! + q.biases[g]! - v;
      sqErr += d * d;
      sqRef += v * v;
    }
  }
  return { ...q, kept, error, rtnError: candidates[1]![2], mseError: candidates[2]![2], sqErr, sqRef };
}

// One unit of quantization work (a chunk of rows of one tensor) and its
// computation; runs inside worker threads and, for tests, inline.
import { type DType, roundingFor } from '../io/dtype.js';
import { nativeAvailable, quantizeAffine } from '../backend/native/addon.js';
import { dequantize, quantizeRtn } from './affine.js';
import { quantizeMse } from './mse.js';
import { dataFreeMethod, type Method } from './preset.js';
import { quantizeWmse, wmsePrior } from './wmse.js';

export interface QuantizeJob {
  w: Float32Array;
  rows: number;
  cols: number;
  bits: number;
  groupSize: number;
  method: Method;
  dtype: DType;
  /** wmse: the imatrix row [cols] of the slice these rows belong to (mean x² per input column), or none. */
  importance?: Float32Array | null;
}

export interface QuantizeResult {
  words: Uint32Array;
  scales: Float32Array;
  biases: Float32Array;
  /** Σ(ŵ − w)² and Σw² over the chunk, for the tensor's relative RMS error. */
  sqErr: number;
  sqRef: number;
}

export const SCALE_DTYPE = { BF16: 'bf16', F16: 'f16', F32: 'f32' } as const;

/**
 * The C++ quantizer when the addon is built (same bytes, much faster), unless
 * MLXK_QUANTIZE=js asks for the JavaScript reference.
 */
export function useNative(dtype: DType): dtype is keyof typeof SCALE_DTYPE {
  return process.env.MLXK_QUANTIZE !== 'js' && dtype in SCALE_DTYPE && nativeAvailable();
}

export function runQuantizeJob(job: QuantizeJob): QuantizeResult {
  if (useNative(job.dtype)) return quantizeAffine(job.w, job.rows, job.cols, job.bits, job.groupSize, dataFreeMethod(job.method), SCALE_DTYPE[job.dtype], job.importance ?? null, wmsePrior(job.importance != null));
  return runQuantizeJobJs(job);
}

/** The JavaScript reference implementation of runQuantizeJob. */
export function runQuantizeJobJs(job: QuantizeJob): QuantizeResult {
  const round = roundingFor(job.dtype);
  const method = dataFreeMethod(job.method);
  const q = method === 'wmse'
    ? quantizeWmse(job.w, job.rows, job.cols, job.bits, job.groupSize, job.dtype, round, { importance: job.importance ?? null, prior: wmsePrior(job.importance != null) })
    : method === 'mse' ? quantizeMse(job.w, job.rows, job.cols, job.bits, job.groupSize, round) : quantizeRtn(job.w, job.rows, job.cols, job.bits, job.groupSize, round);
  const deq = dequantize(q.words, q.scales, q.biases, job.rows, job.cols, job.bits, job.groupSize);
  let sqErr = 0;
  let sqRef = 0;
  for (let i = 0; i < deq.length; i++) {
    const d = deq[i]! - job.w[i]!;
    sqErr += d * d;
    sqRef += job.w[i]! * job.w[i]!;
  }
  return { ...q, sqErr, sqRef };
}

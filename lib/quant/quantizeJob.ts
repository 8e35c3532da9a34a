// One unit of quantization work (a chunk of rows of one tensor) and its
// computation; runs inside worker threads and, for tests, inline.
import { type DType, roundingFor } from '../io/dtype.js';
import { dequantize, quantizeRtn } from './affine.js';
import { quantizeMse } from './mse.js';
import type { Method } from './preset.js';


export interface QuantizeJob {
  w: Float32Array;
  rows: number;
  cols: number;
  bits: number;
  groupSize: number;
  method: Method;
  dtype: DType;
}

export interface QuantizeResult {
  words: Uint32Array;
  scales: Float32Array;
  biases: Float32Array;
  /** Σ(ŵ − w)² and Σw² over the chunk, for the tensor's relative RMS error. */
  sqErr: number;
  sqRef: number;
}

export function runQuantizeJob(job: QuantizeJob): QuantizeResult {
  const round = roundingFor(job.dtype);
  const q = job.method === 'mse' ? quantizeMse(job.w, job.rows, job.cols, job.bits, job.groupSize, round) : quantizeRtn(job.w, job.rows, job.cols, job.bits, job.groupSize, round);
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

// NaN and ±Inf in float tensors: a checkpoint with them decodes garbage (an all-NaN lm_head picks
// token 0 forever) and quantizes to garbage, so inspect reports them and quantize refuses them.
import type { Checkpoint } from './checkpoint.js';
import { decodeFloats, DTYPE_BYTES, FLOAT_DTYPES } from './dtype.js';
import { CheckpointError } from './errors.js';
import { elementCount } from './safetensors.js';

const CHUNK_ELEMENTS = 1 << 20;

/** How many values of `values` are NaN or infinite, and the first one's index (-1: none). */
export function countNonFinite(values: Float32Array): { count: number; first: number } {
  let count = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { count, first };
}

export interface NonFiniteTensor {
  tensor: string;
  file: string;
  count: number;
}

/** Every float tensor of the checkpoint read in chunks of 1M values (memory stays flat). */
export function scanNonFinite(ckpt: Checkpoint): NonFiniteTensor[] {
  const found: NonFiniteTensor[] = [];
  const buf = new Float32Array(CHUNK_ELEMENTS);
  for (const t of ckpt.tensors.values()) {
    if (!FLOAT_DTYPES.has(t.dtype)) continue;
    const n = elementCount(t.shape);
    const size = DTYPE_BYTES[t.dtype];
    let count = 0;
    for (let at = 0; at < n; at += CHUNK_ELEMENTS) {
      const k = Math.min(CHUNK_ELEMENTS, n - at);
      const out = buf.subarray(0, k);
      decodeFloats(t.dtype, ckpt.readRange(t.name, at * size, k * size), 0, k, out);
      count += countNonFinite(out).count;
    }
    if (count > 0) found.push({ tensor: t.name, file: t.file, count });
  }
  return found;
}

/** Refuses rows with non-finite values (row `start` of tensor `name` is the first in `values`). */
export function refuseNonFinite(file: string, name: string, values: Float32Array, cols: number, start: number): void {
  const { count, first } = countNonFinite(values);
  if (count === 0) return;
  throw new CheckpointError(file, `tensor "${name}" has ${count} NaN/Inf values in rows ${start}..${start + values.length / cols - 1} (first at row ${start + Math.floor(first / cols)}, column ${first % cols}); quantizing them writes garbage (--allow-nonfinite to quantize anyway)`);
}

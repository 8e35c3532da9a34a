// From an imatrix (stats.ts ColumnImportance) to the per-column weights a row fit reads:
// mean x² per input column of the slice (expert) the rows belong to. An expert no
// calibration token reached takes the layer's all-expert mean, as llama.cpp cannot
// (it stores 1s there); a module no token reached at all gets none (the data-free prior).
import { createHash } from 'node:crypto';
import { MlxkError } from '../io/errors.js';
import type { ColumnImportance, ImportanceByModule } from './stats.js';

/** Mean x² per column for rows of `slice`, or null when no calibration token reached the module. */
export function importanceRow(ci: ColumnImportance, slice: number): Float32Array | null {
  const { cols } = ci;
  if (ci.tokens[slice]! > 0) {
    const out = new Float32Array(cols);
    for (let j = 0; j < cols; j++) out[j] = ci.sumSq[slice * cols + j]! / ci.tokens[slice]!;
    return out;
  }
  let tokens = 0;
  for (let e = 0; e < ci.slices; e++) tokens += ci.tokens[e]!;
  if (!(tokens > 0)) return null;
  const sum = new Float64Array(cols);
  for (let e = 0; e < ci.slices; e++) for (let j = 0; j < cols; j++) sum[j] += ci.sumSq[e * cols + j]!;
  return Float32Array.from(sum, (v) => v / tokens);
}

/** The importance of `module`, checked against the weight it weights: [slices, rows per slice, cols]. */
export function moduleImportance(all: ImportanceByModule | undefined, module: string, rows: number, cols: number): ColumnImportance | null {
  const ci = all?.get(module);
  if (!ci) return null;
  if (ci.cols !== cols || rows % ci.slices !== 0 || ci.sumSq.length !== ci.slices * cols || ci.tokens.length !== ci.slices) {
    throw new MlxkError(`imatrix entry for ${module}: ${ci.slices} × ${ci.cols} columns does not fit its weight (${rows} rows × ${cols} columns)`, 'the imatrix was made for another model');
  }
  return ci;
}

/** A digest of the statistics, so a resumed conversion with another imatrix starts over. */
export function importanceDigest(all: ImportanceByModule | undefined): string {
  if (!all || all.size === 0) return '';
  const h = createHash('sha256');
  for (const [name, ci] of [...all].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    h.update(`${name}|${ci.slices}|${ci.cols}\n`);
    h.update(new Uint8Array(ci.sumSq.buffer, ci.sumSq.byteOffset, ci.sumSq.byteLength));
    h.update(new Uint8Array(ci.tokens.buffer, ci.tokens.byteOffset, ci.tokens.byteLength));
  }
  return h.digest('hex');
}

// The rows of one output tensor, assembled from the source checkpoint as its
// table entry says: a single tensor, per-expert tensors stacked on a leading
// axis, or one half of an MLA kv_b_proj split per head.
import type { Checkpoint } from '../io/checkpoint.js';
import type { TensorEntry } from '../models/table.js';
import { openTensor, type TensorSource } from './source.js';

export interface EntryRows {
  rows: number;
  cols: number;
  storedBytes: number;
  /** True when every value is already exactly representable in the model dtype (a plain source of that dtype). */
  exactIn(dtype: string): boolean;
  readRows(start: number, count: number): Float32Array;
  /** Raw INT4 codes/scales when every part is a symmetric INT4 source with this group size. */
  int4GroupSize: number | null;
  readInt4Rows(start: number, count: number): { words: Uint32Array; scales: Float32Array };
  /** Rows that can be read in one call without crossing a part boundary (an expert). */
  partRows: number;
}

export function openEntry(ckpt: Checkpoint, e: TensorEntry): EntryRows {
  const src = e.source;
  const cols = e.shape[e.shape.length - 1] ?? 1;
  const rows = e.shape.reduce((a, b) => a * b, 1) / Math.max(cols, 1);
  if (src.kind === 'tensor') return fromParts([openTensor(ckpt, src.name, e.shape)], rows, cols);
  if (src.kind === 'stack') return fromParts(src.names.map((n) => openTensor(ckpt, n, e.shape.slice(1))), rows, cols);
  // kv_b_proj [H·(nope+v), rank] is small (8M values for Kimi): split it in memory on first read.
  const kv = openTensor(ckpt, src.name, [src.heads * (src.nope + src.v), src.rank]);
  let split: Float32Array | null = null;
  const splitKvB = (): Float32Array => {
    const all = kv.readRows(0, kv.rows);
    const per = src.nope + src.v;
    const out = new Float32Array(rows * cols);
    for (let h = 0; h < src.heads; h++) {
      if (src.part === 'embed_q') {
        // W_k[h] is rows [h·per, h·per+nope) of kv_b; embed_q[h] = W_k[h]ᵀ: [rank, nope].
        for (let i = 0; i < src.nope; i++) for (let r = 0; r < src.rank; r++) out[(h * src.rank + r) * src.nope + i] = all[(h * per + i) * src.rank + r]!;
      } else {
        out.set(all.subarray((h * per + src.nope) * src.rank, (h * per + per) * src.rank), h * src.v * src.rank);
      }
    }
    return out;
  };
  return {
    rows, cols, storedBytes: kv.storedBytes / 2, partRows: rows, int4GroupSize: null,
    exactIn: (dtype) => kv.floatDtype === dtype,
    readRows: (start, count) => {
      split ??= splitKvB();
      return split.slice(start * cols, (start + count) * cols);
    },
    readInt4Rows: () => {
      throw new Error('kv_b split has no INT4 form');
    },
  };
}

function fromParts(parts: TensorSource[], rows: number, cols: number): EntryRows {
  const partRows = parts[0]!.rows;
  const gs = parts.every((p) => p.int4 && p.int4.groupSize === parts[0]!.int4?.groupSize) ? parts[0]!.int4!.groupSize : null;
  const locate = (start: number, count: number) => {
    const p = Math.floor(start / partRows);
    const local = start - p * partRows;
    if (local + count > partRows) throw new Error(`read of rows ${start}+${count} crosses a part boundary (${partRows} rows per part)`);
    return { part: parts[p]!, local };
  };
  return {
    rows, cols, partRows, int4GroupSize: gs,
    storedBytes: parts.reduce((a, p) => a + p.storedBytes, 0),
    exactIn: (dtype) => parts.every((p) => p.floatDtype === dtype),
    readRows: (start, count) => {
      const { part, local } = locate(start, count);
      return part.readRows(local, count);
    },
    readInt4Rows: (start, count) => {
      const { part, local } = locate(start, count);
      return part.int4!.readRows(local, count);
    },
  };
}

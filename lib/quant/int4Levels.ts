// compressed-tensors INT4 tensors whose groups use only a few evenly spaced codes: GSQ's
// 2-bit checkpoints store {−2, −1, 0, +1}·scale as codes 6..9 in the 4-bit container
// (IST-DASLab/GSQ gumbel_quantizer_2bit.py). Such a group is exactly MLX affine data of
// fewer bits: q = code − c0, scale = s, bias = (c0 − 8)·s, provided the stored scale and
// bias are exact in the output dtype. c0 is the group's smallest code when its bias is
// exact there, else the next lower code that keeps every code in range and is.
import { pack } from './affine.js';
import type { EntryRows } from './entrySource.js';

export type LevelBits = 2 | 3 | 4;

/** Code of column c in a row of packed nibbles (nibble i of word k is column 8k+i, LSB first). */
function code(bytes: Uint8Array, rowOff: number, c: number): number {
  const b = bytes[rowOff + (c >> 1)]!;
  return c & 1 ? b >>> 4 : b & 0xf;
}

/** The offset c0 for one group at `bits`, or −1 when no exact one exists. */
function groupOffset(cmin: number, cmax: number, s: number, bits: number, round: (x: number) => number): number {
  if (round(s) !== s) return -1;
  for (let c0 = cmin; c0 >= 0 && c0 >= cmax - ((1 << bits) - 1); c0--) {
    const bias = (c0 - 8) * s;
    if (round(bias) === bias) return c0;
  }
  return -1;
}

function eachGroup(words: Uint32Array, rows: number, cols: number, gs: number, fn: (g: number, cmin: number, cmax: number) => boolean): void {
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const groups = cols / gs;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < groups; k++) {
      let cmin = 15;
      let cmax = 0;
      for (let c = k * gs; c < (k + 1) * gs; c++) {
        const v = code(bytes, (r * cols) / 2, c);
        if (v < cmin) cmin = v;
        if (v > cmax) cmax = v;
      }
      if (!fn(r * groups + k, cmin, cmax)) return;
    }
  }
}

/** The fewest bits (2, 3, else 4) at which every group of these rows is exact MLX affine data, given `from` bits already needed. */
export function int4LevelBits(words: Uint32Array, scales: Float32Array, rows: number, cols: number, gs: number, round: (x: number) => number, from: LevelBits = 2): LevelBits {
  let bits: LevelBits = from;
  if (bits === 4) return 4;
  eachGroup(words, rows, cols, gs, (g, cmin, cmax) => {
    while (bits < 4 && groupOffset(cmin, cmax, scales[g]!, bits, round) < 0) bits = (bits + 1) as LevelBits;
    return bits < 4;
  });
  return bits;
}

/** MLX affine rows of `bits` (2 or 3) with the same dequantized values; every group must have an exact offset (int4LevelBits). */
export function remapInt4(words: Uint32Array, scales: Float32Array, rows: number, cols: number, gs: number, bits: number, round: (x: number) => number): { words: Uint32Array; scales: Float32Array; biases: Float32Array } {
  const q = new Uint8Array(rows * cols);
  const biases = new Float32Array(scales.length);
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  eachGroup(words, rows, cols, gs, (g, cmin, cmax) => {
    const c0 = groupOffset(cmin, cmax, scales[g]!, bits, round);
    if (c0 < 0) throw new Error(`INT4 group ${g} (codes ${cmin}..${cmax}) has no exact ${bits}-bit form`);
    biases[g] = (c0 - 8) * scales[g]!;
    const r = Math.floor(g / (cols / gs));
    const start = (g % (cols / gs)) * gs;
    for (let c = start; c < start + gs; c++) q[r * cols + c] = code(bytes, (r * cols) / 2, c) - c0;
    return true;
  });
  return { words: pack(q, rows, cols, bits), scales: Float32Array.from(scales), biases };
}

/** Values per read while scanning: 4M codes = 2 MB of nibbles. */
const SCAN_VALUES = 4 * 1024 * 1024;

/**
 * The level bits of a whole INT4 entry (every expert of a stack), or null when it is not a
 * symmetric INT4 source. Reads until a group needs all 16 levels, so an ordinary INT4
 * checkpoint costs a few reads and a GSQ one a full pass over its codes.
 */
export function entryLevelBits(rows: EntryRows, round: (x: number) => number): LevelBits | null {
  const gs = rows.int4GroupSize;
  if (gs === null) return null;
  let bits: LevelBits = 2;
  const step = Math.max(1, Math.min(rows.partRows, Math.floor(SCAN_VALUES / rows.cols)));
  for (let start = 0, count = 0; start < rows.rows && bits < 4; start += count) {
    count = Math.min(step, rows.rows - start, rows.partRows - (start % rows.partRows));
    const { words, scales } = rows.readInt4Rows(start, count);
    bits = int4LevelBits(words, scales, count, rows.cols, gs, round, bits);
  }
  return bits;
}

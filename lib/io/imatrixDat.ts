// llama.cpp's legacy imatrix (`llama-imatrix --output-format dat`, the .dat files
// published for big models): i32 entry count; per entry i32 name length, name,
// i32 ncall, i32 nval, f32[nval] = Σx²/count · ncall (per expert; 1 · ncall for an
// expert no token reached); then optionally i32 chunk count, i32 length, dataset
// name. After llama.cpp tools/imatrix/imatrix.cpp save_imatrix_legacy and
// common/imatrix-loader.cpp common_imatrix_load_legacy (commit 34af94cd).
import { readFileSync } from 'node:fs';
import type { ColumnImportance } from '../quant/stats.js';
import { checkImportance, type Imatrix, imatrixError } from './imatrix.js';
import { writeFileAtomic } from './safetensorsWriter.js';

/** The longest tensor name ggml holds (GGML_MAX_NAME 64 with the terminator). */
const MAX_NAME = 63;

/**
 * Reads a legacy .dat. The format does not record how many experts share an entry, so each
 * is one slice of nval columns (the tensor table splits it); `tokens` are its chunk count.
 */
export function readImatrixDat(file: string): Imatrix {
  const b = readFileSync(file);
  let pos = 0;
  const i32 = (field: string): number => {
    if (pos + 4 > b.length) throw imatrixError(file, field, `needs 4 bytes at offset ${pos}, file has ${b.length} (truncated)`);
    const v = b.readInt32LE(pos);
    pos += 4;
    return v;
  };
  const n = i32('entry count');
  // every entry takes at least 4 + 1 + 4 + 4 + 4 bytes
  if (n < 1 || n * 17 > b.length) throw imatrixError(file, 'entry count', `${n} (expected 1..${Math.floor(b.length / 17)} for a file of ${b.length} bytes)`);
  const entries = new Map<string, ColumnImportance>();
  for (let i = 0; i < n; i++) {
    const len = i32(`entry ${i} name length`);
    if (len < 1 || len > MAX_NAME || pos + len > b.length) throw imatrixError(file, `entry ${i} name length`, `${len} (expected 1..${MAX_NAME} bytes within the file)`);
    const name = b.toString('utf8', pos, pos + len);
    if (Buffer.byteLength(name) !== len) throw imatrixError(file, `entry ${i} name`, 'is not valid UTF-8');
    pos += len;
    if (entries.has(name)) throw imatrixError(file, `entry "${name}"`, 'appears twice');
    const ncall = i32(`"${name}" ncall`);
    if (ncall < 1) throw imatrixError(file, `"${name}" ncall`, `${ncall} (expected ≥ 1 chunk)`);
    const nval = i32(`"${name}" nval`);
    if (nval < 1 || pos + nval * 4 > b.length) throw imatrixError(file, `"${name}" nval`, `${nval} (expected 1..${Math.floor((b.length - pos) / 4)} values left in the file)`);
    const sumSq = new Float32Array(nval);
    for (let j = 0; j < nval; j++) sumSq[j] = b.readFloatLE(pos + 4 * j);
    pos += nval * 4;
    const e: ColumnImportance = { cols: nval, slices: 1, sumSq, tokens: Float64Array.of(ncall) };
    checkImportance(file, name, e);
    entries.set(name, e);
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (pos < b.length) {
    chunkCount = i32('chunk count');
    if (chunkCount < 0) throw imatrixError(file, 'chunk count', `${chunkCount} (expected ≥ 0)`);
    const len = i32('dataset name length');
    if (len < 0 || pos + len !== b.length) throw imatrixError(file, 'dataset name length', `${len} (expected the ${b.length - pos} bytes left in the file)`);
    if (len > 0) datasets.push(b.toString('utf8', pos, pos + len));
    pos += len;
  }
  return { format: 'dat', entries, datasets, chunkCount, chunkSize: 0, tokensPerCount: 0 };
}

/**
 * Writes a legacy .dat as llama-imatrix does (entries by sorted name, float32 arithmetic, the
 * last dataset in the trailer). From token counts (`tokensPerCount` 1) ncall is
 * ⌈max count / chunkSize⌉ as in save_imatrix_legacy; from a .dat (counts are chunks) ncall is
 * the count itself, so a .dat round-trips.
 */
export function writeImatrixDat(file: string, m: Omit<Imatrix, 'format'>): void {
  const tokenCounts = m.tokensPerCount === 1;
  if (tokenCounts && m.chunkSize < 1) throw imatrixError(file, 'chunk size', `${m.chunkSize}: the .dat format stores means × chunks, so it needs the tokens per chunk`);
  const parts: Buffer[] = [];
  const i32 = (v: number) => { const x = Buffer.alloc(4); x.writeInt32LE(v); parts.push(x); };
  const names = [...m.entries.keys()].sort().filter((k) => m.entries.get(k)!.tokens.some((c) => c > 0));
  i32(names.length);
  for (const name of names) {
    const e = m.entries.get(name)!;
    const nameBytes = Buffer.from(name, 'utf8');
    i32(nameBytes.length);
    parts.push(nameBytes);
    const max = Math.max(...e.tokens);
    const ncall = tokenCounts ? Math.floor((max + m.chunkSize - 1) / m.chunkSize) : max;
    i32(ncall);
    const nval = e.cols * e.slices;
    i32(nval);
    const vals = Buffer.alloc(nval * 4);
    for (let j = 0; j < nval; j++) {
      const count = e.tokens[Math.floor(j / e.cols)]!;
      const v = count === 0 ? ncall : Math.fround(Math.fround(e.sumSq[j]! / count) * ncall);
      vals.writeFloatLE(v, 4 * j);
    }
    parts.push(vals);
  }
  i32(m.chunkCount);
  const ds = Buffer.from(m.datasets.at(-1) ?? '', 'utf8');
  i32(ds.length);
  parts.push(ds);
  writeFileAtomic(file, Buffer.concat(parts));
}

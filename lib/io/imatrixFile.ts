// An imatrix file in either llama.cpp format, chosen by its first bytes on read
// and by the caller (or the file name) on write.
import { existsSync, statSync } from 'node:fs';
import { MlxkError } from './errors.js';
import { type Imatrix, isGgufFile } from './imatrix.js';
import { readImatrixDat, writeImatrixDat } from './imatrixDat.js';
import { readImatrixGguf, writeImatrixGguf } from './imatrixGguf.js';

export function readImatrix(file: string): Imatrix {
  if (!existsSync(file) || !statSync(file).isFile()) throw new MlxkError(`${file}: no such imatrix file`);
  return isGgufFile(file) ? readImatrixGguf(file) : readImatrixDat(file);
}

/** GGUF unless `format` or a `.dat` name says legacy. */
export function writeImatrix(file: string, m: Omit<Imatrix, 'format'>, format?: 'gguf' | 'dat'): void {
  if ((format ?? (file.endsWith('.dat') ? 'dat' : 'gguf')) === 'dat') writeImatrixDat(file, m);
  else writeImatrixGguf(file, m);
}

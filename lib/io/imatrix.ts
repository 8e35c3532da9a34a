// llama.cpp importance matrices in memory, whichever file they came from:
// per GGUF weight name (`blk.3.ffn_down_exps.weight`) the Σx² per input column
// and the count behind it, per expert for stacked experts. Reading picks the
// format by the file's first bytes (GGUF magic, else the legacy .dat).
import { closeSync, openSync, readSync } from 'node:fs';
import { CheckpointError } from './errors.js';
import { GGUF_MAGIC } from './gguf.js';
import type { ColumnImportance } from '../quant/stats.js';

export interface Imatrix {
  format: 'gguf' | 'dat';
  /** By GGUF weight name. A legacy .dat entry does not record its expert count: slices 1, cols = all values. */
  entries: Map<string, ColumnImportance>;
  /** Calibration files llama-imatrix recorded (imatrix.datasets; the .dat trailer's one name). */
  datasets: string[];
  /** Chunks processed (imatrix.chunk_count; the .dat trailer's call count). */
  chunkCount: number;
  /**
   * What one unit of `tokens` is: 1 = a token (GGUF); 0 = a chunk of unknown size (the legacy
   * .dat stores Σx²/count · chunks, so its `tokens` are chunks and sumSq/tokens is still E[x²]).
   */
  tokensPerCount: number;
  /** Tokens per chunk llama-imatrix used (imatrix.chunk_size; 0 when the file does not say). */
  chunkSize: number;
}

export function imatrixError(file: string, field: string, detail: string): CheckpointError {
  return new CheckpointError(file, `imatrix ${field}: ${detail}`, 'write it again with llama-imatrix or `mlxk imatrix`');
}

/** Checks that every Σx² is finite and ≥ 0 and every count finite and ≥ 0. */
export function checkImportance(file: string, name: string, e: ColumnImportance): void {
  for (let i = 0; i < e.sumSq.length; i++) {
    const v = e.sumSq[i]!;
    if (!(v >= 0) || !Number.isFinite(v)) throw imatrixError(file, `"${name}" value [${i}]`, `${v} (expected a finite Σx² ≥ 0)`);
  }
  for (let i = 0; i < e.tokens.length; i++) {
    const c = e.tokens[i]!;
    if (!(c >= 0) || !Number.isFinite(c)) throw imatrixError(file, `"${name}" count [${i}]`, `${c} (expected a finite count ≥ 0)`);
  }
}

export function isGgufFile(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32LE(0) === GGUF_MAGIC;
  } finally {
    closeSync(fd);
  }
}

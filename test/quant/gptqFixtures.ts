// The inputs of tools/gptq_reference.py, regenerated exactly (mulberry32, integer numerators),
// and the fixture it wrote.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, rng } from '../helpers.js';

export interface ReferenceCase {
  seed: number;
  rows: number;
  cols: number;
  tokens: number;
  bits: number;
  groupSize: number;
  actOrder: boolean;
  dead: number[];
  damp: number;
  codes: number[];
  scales: number[];
  biases: number[];
  objective: number;
}

export function referenceCases(): ReferenceCase[] {
  return (JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'gptq', 'reference.json'), 'utf8')) as { cases: ReferenceCase[] }).cases;
}

/** W [rows, cols] (k/32768) and X [tokens, cols] (k/64: neighbours correlated, every 7th channel ×4, dead columns 0). */
export function caseInputs(seed: number, rows: number, cols: number, tokens: number, dead: number[]): { w: Float32Array; x: Float64Array } {
  const next = rng(seed);
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = (Math.floor(next() * 2001) - 1000) / 32768;
  const u = new Float64Array(tokens * cols);
  for (let i = 0; i < u.length; i++) u[i] = Math.floor(next() * 257) - 128;
  const x = new Float64Array(tokens * cols);
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < cols; j++) {
      const v = u[t * cols + j]! + (j > 0 ? u[t * cols + j - 1]! : 0);
      x[t * cols + j] = dead.includes(j) ? 0 : (v * (j % 7 === 0 ? 4 : 1)) / 64;
    }
  }
  return { w, x };
}

/** H = XᵀX (exact for these inputs in any order). */
export function gram(x: Float64Array, tokens: number, cols: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < cols; i++) {
      const xi = x[t * cols + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < cols; j++) h[i * cols + j] += xi * x[t * cols + j]!;
    }
  }
  return h;
}

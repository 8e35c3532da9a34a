// Perplexity windows as models/tiny-kimi/golden.json `eval.definition` fixes them:
// non-overlapping slices ids[L·w : L·w + L], the incomplete tail dropped; each window is
// an independent forward pass from position 0 and positions 1..L−1 are scored.
import { MlxkError } from '../io/errors.js';

export interface WindowPlan {
  /** Token windows, each exactly seqLen ids. */
  windows: number[][];
  /** Tokens after the last whole window (not evaluated). */
  tailDropped: number;
  /** Whole windows the data holds (before --max-windows). */
  available: number;
  /** Predictions scored: (seqLen − 1) per window. */
  scoredTokens: number;
}

export function planWindows(ids: readonly number[], seqLen: number, maxWindows?: number): WindowPlan {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new MlxkError(`--seq-len must be an integer ≥ 2, got ${seqLen}`);
  if (maxWindows !== undefined && (!Number.isInteger(maxWindows) || maxWindows < 1)) throw new MlxkError(`--max-windows must be a positive integer, got ${maxWindows}`);
  const available = Math.floor(ids.length / seqLen);
  if (available === 0) throw new MlxkError(`the data has ${ids.length} tokens, fewer than one window of ${seqLen}`, 'use a longer file or a smaller --seq-len');
  const n = Math.min(available, maxWindows ?? available);
  const windows: number[][] = [];
  for (let w = 0; w < n; w++) windows.push(ids.slice(seqLen * w, seqLen * w + seqLen));
  return { windows, tailDropped: ids.length - available * seqLen, available, scoredTokens: n * (seqLen - 1) };
}

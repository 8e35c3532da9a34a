// The one place errors become process output: a known MlxkError prints one line
// (plus a "hint:" line) and exits 1; anything else is a bug and keeps its stack.
import { MlxkError } from '../io/errors.js';

export function reportError(e: unknown): number {
  if (e instanceof MlxkError) {
    process.stderr.write(`mlxk: ${e.message}\n`);
    if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
    return 1;
  }
  process.stderr.write(`mlxk: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return 2;
}

// The one place errors become process output: a known MlxkError prints one line (plus a "hint:"
// line) and exits 1, or 2 when a model's files are broken (CheckpointError), so scripts can tell
// bad input files from bad usage; anything else is a bug, keeps its stack and exits 70 (EX_SOFTWARE).
import { CheckpointError, MlxkError } from '../io/errors.js';

export const EXIT_USAGE = 1;
export const EXIT_BAD_FILES = 2;
export const EXIT_INTERNAL = 70;

export function reportError(e: unknown): number {
  if (e instanceof MlxkError) {
    process.stderr.write(`mlxk: ${e.message}\n`);
    if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
    return e instanceof CheckpointError ? EXIT_BAD_FILES : EXIT_USAGE;
  }
  process.stderr.write(`mlxk: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT_INTERNAL;
}

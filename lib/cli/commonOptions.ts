// Flags that several verbs share, spelled and checked the same way everywhere: the compute
// backend, repeatable options, and the report flags of the measuring verbs.
import type { Command } from 'commander';
import { type BackendName, BACKENDS, isBackendName } from '../backend/index.js';
import { MlxkError } from '../io/errors.js';

/** Commander collector for an option given several times. */
export const repeatable = (v: string, acc: string[] = []): string[] => [...acc, v];

export function addBackendOption(cmd: Command): Command {
  return cmd.option('--backend <name>', `compute backend: ${BACKENDS.join(' or ')} (default: MLXK_BACKEND, else native where its kernels are built, mlx on macOS)`);
}

/** The --backend value; undefined leaves the choice to createOps (MLXK_BACKEND, then the platform default). */
export function backendArg(name: string | undefined): BackendName | undefined {
  if (name === undefined) return undefined;
  if (!isBackendName(name)) throw new MlxkError(`--backend must be one of ${BACKENDS.join(', ')}, got "${name}"`);
  return name;
}

/** --backend, --json and -q; with `files`, also -o/--out and --note for reports written to disk. */
export function addMeasureOptions(cmd: Command, files?: { outHelp: string }): Command {
  addBackendOption(cmd).option('--json', 'print the report as JSON instead of text');
  if (files) {
    cmd
      .option('-o, --out <file>', files.outHelp)
      .option('--note <text>', 'a line for the report, e.g. how the models were made (repeatable)', repeatable);
  }
  return cmd.option('-q, --quiet', 'no progress bar');
}

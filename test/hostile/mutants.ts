// Broken copies of the bundled model for the hostile-input tests (issue 15): files symlinked from
// models/tiny-kimi except those a test rewrites, and the CLI run on them in a child process.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../../lib/io/safetensors.js';
import { MLXK, REPO, TINY_KIMI, tmpDir } from '../helpers.js';

/** A copy of `src` (default tiny-kimi): `edit` gets the new directory; files it rewrites must be replaced, not written through (use writeFile). */
export function mutant(edit: (dir: string) => void, src = TINY_KIMI): string {
  const dir = tmpDir('mlxk-mutant-');
  for (const f of readdirSync(src)) symlinkSync(join(src, f), join(dir, f));
  edit(dir);
  return dir;
}

/** Replaces a (symlinked) file with new contents: renamed over the link, never written through it. */
export function writeFile(dir: string, name: string, data: string | Uint8Array): void {
  const path = join(dir, name);
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

export function readJsonFile(src: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(src, name), 'utf8')) as Record<string, unknown>;
}

/** config.json of the copy with `patch` merged in (undefined values delete keys). */
export function patchConfig(dir: string, patch: Record<string, unknown>, file = 'config.json', src = TINY_KIMI): void {
  const j = { ...readJsonFile(src, file), ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete j[k];
  writeFile(dir, file, JSON.stringify(j));
}

/** model.safetensors with tensor `name`'s bytes overwritten by `fill` (repeated). */
export function patchTensor(dir: string, name: string, fill: Uint8Array, file = 'model.safetensors', src = TINY_KIMI): void {
  const f = SafetensorsFile.open(join(src, file));
  const t = f.info(name);
  f.close();
  const bytes = readFileSync(join(src, file));
  for (let i = t.start; i < t.end; i++) bytes[i] = fill[(i - t.start) % fill.length]!;
  writeFile(dir, file, bytes);
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** `mlxk ARGS` in a child process, killed after `timeoutMs`. */
export function mlxk(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MLXK, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal: timedOut ? null : signal, stdout, stderr, timedOut });
    });
  });
}

/** A stack trace in the output: "    at fn (file:line:col)" lines or a Node internal error dump. */
export function hasStackTrace(r: Run): boolean {
  return /^\s+at .+:\d+:\d+\)?$/m.test(r.stderr) || /node:internal|Uncaught|FATAL ERROR/.test(r.stderr);
}

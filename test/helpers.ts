// Shared test utilities: temp dirs, seeded random data, MLX interop.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMlx } from '../lib/backend/mlx/load.js';

/** Seeded generator (mulberry32): tests print their seed so failures reproduce. */
export { seededRandom as rng } from '../lib/engine/sampler.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const TINY_KIMI = join(REPO, 'models', 'tiny-kimi');
export const MLXK = join(REPO, 'bin', 'mlxk');

const dirs: string[] = [];
export function tmpDir(prefix = 'mlxk-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh seed per run (fresh random inputs every run), overridable with MLXK_SEED. */
export function runSeed(): number {
  return process.env.MLXK_SEED ? Number(process.env.MLXK_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
}

export function normal(n: number, std: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = next() || 1e-12;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next()) * std;
  }
  return out;
}

export const mx = () => loadMlx().core;

export function toNested(a: Float32Array, rows: number, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) out.push(Array.from(a.subarray(r * cols, (r + 1) * cols)));
  return out;
}

export function flatU32(x: unknown): Uint32Array {
  return Uint32Array.from((x as number[][]).flat().map((v) => v >>> 0));
}

export function flatF32(x: unknown): Float32Array {
  return Float32Array.from((x as number[]).flat(3) as number[]);
}

/** Awaits `fn` and checks it rejects with an error matching `expected` (uvu has no async throws). */
export async function rejects(fn: () => Promise<unknown>, expected: RegExp | ((e: unknown) => boolean)): Promise<void> {
  let error: unknown = null;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (error === null) throw new Error('expected a rejection, but the promise resolved');
  const ok = expected instanceof RegExp ? expected.test(String((error as Error).message)) : expected(error);
  if (!ok) throw new Error(`rejected with an unexpected error: ${(error as Error).message}`);
}

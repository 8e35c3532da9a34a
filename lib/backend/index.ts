// Backend selection. `native` (our C++ kernels, lib/backend/native) is the default
// wherever its addon loads, macOS included: it memory-maps the checkpoint as stored, while
// `mlx` (@frost-beta/mlx 0.0.7 = MLX 0.13) widens 3/5/6-bit codes to 8 bits and scales to
// float32 (≈1.5× the file for Kimi-K2.5 2.5-bit), so it stays an explicit choice. On a Mac,
// Metal speed comes from `mlxk serve --engine mlx-lm`. MLXK_BACKEND or an explicit name
// overrides. An explicit request for a backend that cannot load is an error; the default
// falls back from native to mlx with one warning.
import { MlxkError } from '../io/errors.js';
import { MlxOps } from './mlx/ops.js';
import { nativeAvailable, type ActivationBits } from './native/addon.js';
import { NativeOps } from './native/ops.js';
import type { Ops } from './ops.js';

export const BACKENDS = ['mlx', 'native'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface CreateOpsOptions {
  /** native only: activation precision of quantized products, 8 (default) or 16 (see native/README.md). */
  activationBits?: ActivationBits;
}

export function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}

let warned = false;

/** The backend an unspecified request gets: MLXK_BACKEND, else native where it loads, else mlx. */
export function defaultBackend(): BackendName {
  const env = process.env.MLXK_BACKEND;
  if (env !== undefined && env !== '') {
    if (!isBackendName(env)) throw new MlxkError(`MLXK_BACKEND must be one of ${BACKENDS.join(', ')}, got "${env}"`);
    return env;
  }
  if (nativeAvailable()) return 'native';
  if (!warned) {
    warned = true;
    process.emitWarning('native kernels are not built (build/Release/mlxk_native.node); using the slower mlx backend — run `npm ci` to build them', { code: 'MLXK_NATIVE_MISSING' });
  }
  return 'mlx';
}

/** Ops of the named backend, or of the default one when `name` is undefined. */
export function createOps(name?: BackendName, opts: CreateOpsOptions = {}): Ops {
  const chosen = name ?? defaultBackend();
  switch (chosen) {
    case 'mlx':
      return new MlxOps();
    case 'native':
      return new NativeOps(opts);
  }
}

// Backend selection. `mlx` is @frost-beta/mlx; `native` (our C++ kernels) plugs in
// here once it is built.
import { MlxkError } from '../io/errors.js';
import { MlxOps } from './mlx/ops.js';
import type { Ops } from './ops.js';

export const BACKENDS = ['mlx', 'native'] as const;
export type BackendName = (typeof BACKENDS)[number];

export function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}

export function createOps(name: BackendName = 'mlx'): Ops {
  switch (name) {
    case 'mlx':
      return new MlxOps();
    case 'native':
      throw new MlxkError('the native backend is not built yet', 'use --backend mlx (the default)');
  }
}

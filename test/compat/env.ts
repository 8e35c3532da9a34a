// Where the tests find mlx-lm: MLXK_MLX_LM_PYTHON (default python3) with MLXK_MLX_LM_PYTHONPATH
// (default /work/scratch/mlx-lm-env/site, the scratch build on the project's Linux machine)
// prepended to PYTHONPATH. transformers and huggingface_hub, which mlx_lm imports at module level
// but these tests never use, are replaced by pystub/ where they are not installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { REPO } from '../helpers.js';

export interface MlxLmEnv {
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** Why mlx-lm is not available (when python is undefined). */
  reason?: string;
}

const DEFAULT_SITE = '/work/scratch/mlx-lm-env/site';

export function mlxLmEnv(): MlxLmEnv {
  const python = process.env.MLXK_MLX_LM_PYTHON || 'python3';
  const site = process.env.MLXK_MLX_LM_PYTHONPATH ?? (existsSync(DEFAULT_SITE) ? DEFAULT_SITE : '');
  const paths = [site, process.env.PYTHONPATH ?? ''].filter(Boolean);
  const probe = (extra: string[]) => {
    const env = { ...process.env, PYTHONPATH: [...paths, ...extra].join(delimiter) };
    const r = spawnSync(python, ['-c', 'import mlx.core, mlx_lm.utils, mlx_lm.generate; print(mlx.core.__version__)'], { env, encoding: 'utf8' });
    return { ok: r.status === 0, env, err: `${r.error?.message ?? ''}${r.stderr ?? ''}`.trim().split('\n').pop() ?? '' };
  };
  const plain = probe([]);
  if (plain.ok) return { python, env: plain.env };
  const stubbed = probe([join(REPO, 'test', 'compat', 'pystub')]);
  if (stubbed.ok) return { python, env: stubbed.env };
  return { reason: `mlx-lm is not importable by ${python} (PYTHONPATH ${paths.join(delimiter) || 'unset'}: ${stubbed.err}); set MLXK_MLX_LM_PYTHON / MLXK_MLX_LM_PYTHONPATH to a Python with mlx and mlx-lm` };
}

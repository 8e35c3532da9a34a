// Where the tests find mlx-lm: MLXK_MLX_LM_PYTHON (default python3) with MLXK_MLX_LM_PYTHONPATH
// prepended to PYTHONPATH; without that variable, the build vendored by tools/pack-mlx-lm.sh (MLX
// 0.32.1 CPU + mlx-lm 0.32.0 for CPython 3.11 on Linux x64) through tools/vendored-mlx-lm.sh.
// transformers and huggingface_hub, which mlx_lm imports at module level but
// these tests never use, are replaced by pystub/ where they are not installed.
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { REPO } from '../helpers.js';

export interface MlxLmEnv {
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** Why mlx-lm is not available (when python is undefined). */
  reason?: string;
}

/** PYTHONPATH of the vendored build (tools/vendored-mlx-lm.sh unpacks it); '' where it does not apply. */
function vendoredPath(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64') return '';
  const r = spawnSync(join(REPO, 'tools', 'vendored-mlx-lm.sh'), { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

export function mlxLmEnv(): MlxLmEnv {
  const python = process.env.MLXK_MLX_LM_PYTHON || 'python3';
  const site = process.env.MLXK_MLX_LM_PYTHONPATH ?? vendoredPath();
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
  const reason = `mlx-lm is not importable by ${python} (PYTHONPATH ${paths.join(delimiter) || 'unset'}: ${stubbed.err}); the vendored build needs CPython 3.11 with numpy on Linux x64 and Debian's libopenblas0 — or set MLXK_MLX_LM_PYTHON / MLXK_MLX_LM_PYTHONPATH to a Python with mlx and mlx-lm`;
  // CI sets this where the vendored build applies, so a broken unpack fails instead of skipping.
  if (process.env.MLXK_REQUIRE_MLX_LM) throw new Error(reason);
  return { reason };
}

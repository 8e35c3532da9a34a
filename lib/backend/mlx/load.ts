// Loads @frost-beta/mlx once, turning the dlopen failure for its BLAS/LAPACK
// dependencies into an error that says what to install.
import { createRequire } from 'node:module';
import { MlxkError } from '../../io/errors.js';

type MlxModule = typeof import('@frost-beta/mlx');

let cached: MlxModule | undefined;

export function explainLoadFailure(message: string): MlxkError | null {
  const missing = /(lib(?:lapack|blas|openblas)[\w.-]*\.so[\w.]*)/.exec(message);
  if (missing) {
    return new MlxkError(
      `MLX cannot load: ${missing[1]} is missing`,
      'install the system libraries it links: `sudo apt-get install liblapack3 libopenblas0-pthread` (Debian/Ubuntu)',
    );
  }
  if (/Cannot find module|MODULE_NOT_FOUND|mlx\.node/.test(message)) {
    return new MlxkError('MLX binding is not installed (node_modules/@frost-beta/mlx)', 'run `npm ci` in the mlxk checkout');
  }
  return null;
}

export function loadMlx(): MlxModule {
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)('@frost-beta/mlx') as MlxModule;
  } catch (e) {
    throw explainLoadFailure((e as Error).message) ?? e;
  }
  return cached;
}

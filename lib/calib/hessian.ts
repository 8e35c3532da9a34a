// Layer-input Hessians H = Σ xᵀx for GPTQ, accumulated in float64 (C++ on the kernels'
// threads when built, else this file's reference, bit-identical), and the shrinkage of
// a routed expert's Hessian toward its layer's all-token one.
import { hessianAccumulate as nativeAccumulate, nativeAvailable } from '../backend/native/addon.js';
import { MlxkError } from '../io/errors.js';

/** Σ xᵀx of the rows that reached one linear (or one expert), with the token count. */
export class Hessian {
  readonly h: Float64Array;
  tokens = 0;

  constructor(readonly n: number) {
    this.h = new Float64Array(n * n);
  }

  /** Adds the rows of x [rows, n] (or only those listed). */
  add(x: Float32Array, rows: number, only: Int32Array | null = null): void {
    accumulateHessian(this.h, this.n, x, rows, only);
    this.tokens += only ? only.length : rows;
  }
}

function useNative(): boolean {
  return process.env.MLXK_QUANTIZE !== 'js' && nativeAvailable();
}

/** h += Σ_t x_tᵀ·x_t: the JavaScript reference of native/src/gptq_linalg.cc hessian_accumulate. */
export function accumulateHessian(h: Float64Array, n: number, x: Float32Array, rows: number, only: Int32Array | null = null): void {
  if (useNative()) return nativeAccumulate(h, n, x, rows, only);
  const count = only ? only.length : rows;
  for (let k = 0; k < count; k++) {
    const t = only ? only[k]! : k;
    const off = t * n;
    for (let i = 0; i < n; i++) {
      const xi = x[off + i]!;
      for (let j = 0; j <= i; j++) h[i * n + j] += xi * x[off + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) h[i * n + j] = h[j * n + i]!;
}

/** κ as a multiple of the column count: 1 unless MLXK_SHRINK_KAPPA sets another (to measure it, benchmarks/gptq-tune.sh). */
export function shrinkStrength(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.MLXK_SHRINK_KAPPA ?? '1';
  const k = Number(v);
  if (!Number.isFinite(k) || k <= 0) throw new MlxkError(`MLXK_SHRINK_KAPPA=${v}: expected a positive multiple of the column count`);
  return k;
}

/**
 * A routed expert's Hessian shrunk toward the layer's: the per-token means combined as
 * (H_e + κ·H̄_shared) / (N_e + κ), so an expert that saw N_e ≪ κ tokens is mostly the
 * shared estimate and one that saw N_e ≫ κ is its own. κ is the column count by default
 * (`strength` 1): below that many tokens H_e cannot even be full rank. With N_e = 0 it is
 * the shared Hessian.
 */
export function shrinkHessian(own: Hessian, shared: Hessian, strength = shrinkStrength()): Float64Array {
  const n = own.n;
  const kappa = strength * n;
  const out = new Float64Array(n * n);
  const sharedScale = shared.tokens > 0 ? kappa / shared.tokens : 0;
  const denom = own.tokens + (shared.tokens > 0 ? kappa : 0);
  if (denom === 0) return out;
  for (let i = 0; i < out.length; i++) out[i] = (own.h[i]! + sharedScale * shared.h[i]!) / denom;
  return out;
}

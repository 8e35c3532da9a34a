// Loss estimates without running the model. A module's relative weighted error under an
// option, r = Σ imp·ΔW² / Σ imp·W² (imp = the imatrix's mean x² per input column, 1
// without one), times a per-role scale in KL nats per unit of r, fitted where both can be
// measured (`mlxk sensitivity --fit` on tiny-kimi). Without weights (`mlxk plan` from
// config.json), r is that of the option on Gaussian weights.
import { dequantize } from './affine.js';
import { type Method } from './preset.js';
import { runQuantizeJob } from './quantizeJob.js';
import { allocationGroups, optionKey, resolveSpec, type SensitivityTable, STORAGE_OPTIONS } from './recipe.js';
import type { ModelTable, Role } from '../models/table.js';

/**
 * KL (nats per token) per unit of relative weighted error, by role: the geometric mean of
 * measured KL ÷ data-free proxy over every unit and option of tiny-kimi with KL > 1e-4
 * (benchmarks/results/sensitivity-tiny-kimi.md has the command and the fit).
 */
export const ROLE_SCALES: Readonly<Partial<Record<Role, number>>> = {
  embed: 2.33,
  lm_head: 1.109,
  attn: 0.2423,
  dense_mlp: 1.261,
  shared_expert: 0.07936,
  expert: 0.3097,
};

export function roleScale(role: Role): number {
  return ROLE_SCALES[role] ?? Math.max(...Object.values(ROLE_SCALES));
}

const gaussCache = new Map<string, number>();

/** Relative squared error of an option on a fixed pseudo-Gaussian 32 × 1024 block (Box–Muller over a fixed LCG). */
export function gaussianRelativeError(bits: number, groupSize: number, method: Method): number {
  const key = `${bits}/${groupSize}/${method}`;
  const hit = gaussCache.get(key);
  if (hit !== undefined) return hit;
  const rows = 32;
  const cols = 1024;
  const w = new Float32Array(rows * cols);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 0.5) / 2 ** 32;
  for (let i = 0; i < w.length; i++) w[i] = Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd()) * 0.02;
  const r = runQuantizeJob({ w, rows, cols, bits, groupSize, method, dtype: 'BF16' });
  const d = dequantize(r.words, r.scales, r.biases, rows, cols, bits, groupSize);
  let err = 0;
  let ref = 0;
  for (let i = 0; i < w.length; i++) {
    err += (d[i]! - w[i]!) ** 2;
    ref += w[i]! ** 2;
  }
  const v = err / ref;
  gaussCache.set(key, v);
  return v;
}

/** A sensitivity table from config.json alone: every module's relative error taken as on Gaussian weights. */
export function priorTable(table: ModelTable, method: Method, model: string): SensitivityTable {
  return {
    format: 'mlxk-sensitivity', version: 1, model, modelType: table.modelType, source: 'prior', method,
    note: 'no weights read: relative error of each option on Gaussian weights × the per-role scale fitted on tiny-kimi',
    groups: allocationGroups(table).map((g) => ({
      id: g.id,
      loss: Object.fromEntries(STORAGE_OPTIONS.filter((o) => o).map((o) => [optionKey(o), roleScale(g.role) * g.modules.reduce((a, m) => {
        const spec = resolveSpec(m, o);
        return a + (spec ? gaussianRelativeError(spec.bits, spec.groupSize, method) : 0);
      }, 0)])),
    })),
  };
}

// The size targets shared by `quantize`, `plan` and `sensitivity`: --target-bpw, --size or
// the best that fits a machine's memory, turned into a recipe by the allocator from a
// sensitivity table (measured KL, the weight proxy, the config-only prior, or a file).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Ops } from '../backend/ops.js';
import { calibrationIds, describeCalibration, openCalibration } from '../calib/calibText.js';
import { measureKl, proxyTable, type SensitivityProgress } from '../calib/sensitivity.js';
import { MlxkError, oneLine } from '../io/errors.js';
import type { ModelTable } from '../models/table.js';
import { defaultReserve } from '../quant/fit.js';
import type { Method } from '../quant/preset.js';
import { priorTable } from '../quant/prior.js';
import { allocateRecipe, lossMatrix, type Recipe, recipePreset, type RecipeSizes, recipeSizes, type SensitivityTable, smallestRecipeBytes } from '../quant/recipe.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { parseBytes, parseCount } from './units.js';

export interface TargetFlags {
  targetBpw?: string;
  size?: string;
  sensitivity?: string;
  sensitivityTokens: string;
}

/** Models up to this many parameters get measured KL sensitivities by default (19 units × 18 options forward passes). */
export const KL_MAX_PARAMS = 100e6;

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option('--target-bpw <bits>', 'choose bits per module for this average bits per weight (counted over every tensor, as `plan` counts), by a knapsack on estimated loss per byte')
    .option('--size <size>', 'like --target-bpw, for a total size of tensors (e.g. 350GB)')
    .option('--sensitivity <how>', 'losses the allocation minimises: kl (measure each unit on held-out --calib text; default for models up to 100M parameters), proxy (Σ imatrix·ΔW² on sampled rows × per-role scales), or a table written earlier (mlxk-sensitivity.json)')
    .option('--sensitivity-tokens <n>', 'held-out calibration tokens (the end of --calib) for --sensitivity kl', '2048');
}

export function hasTarget(f: TargetFlags): boolean {
  return f.targetBpw !== undefined || f.size !== undefined;
}

export function readSensitivityFile(path: string): SensitivityTable {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MlxkError(`--sensitivity ${path}: not a readable JSON file (${oneLine((e as Error).message)})`);
  }
  const t = json as Partial<SensitivityTable>;
  if (t.format !== 'mlxk-sensitivity' || !Array.isArray(t.groups)) throw new MlxkError(`--sensitivity ${path}: not an mlxk sensitivity table (expected "format": "mlxk-sensitivity")`);
  return t as SensitivityTable;
}

/** Weight bytes that leave room for the KV cache at `context`, runtime overhead (max(1 GiB, 1 %), as fit.ts counts it) and the OS reserve. */
export function memoryBudget(table: ModelTable, memoryBytes: number, context: number, reserveBytes?: number): number {
  const kv = table.numLayers * table.kvElementsPerTokenPerLayer * 2 * context;
  const room = memoryBytes - kv - (reserveBytes ?? defaultReserve(memoryBytes));
  return Math.min(room - 2 ** 30, room / 1.01);
}

/** The whole model's byte budget from --target-bpw / --size, or the memory budget when `memory` is given. */
export function budgetBytes(f: TargetFlags, sizes: RecipeSizes, memory?: number): { bytes: number; label: string } {
  const given = [f.targetBpw !== undefined, f.size !== undefined, memory !== undefined].filter(Boolean).length;
  if (given > 1) throw new MlxkError('give one target: --target-bpw, --size or --memory');
  if (f.targetBpw !== undefined) {
    const b = Number(f.targetBpw);
    if (!Number.isFinite(b) || b <= 0) throw new MlxkError(`--target-bpw ${f.targetBpw}: expected a positive number of bits per weight, e.g. 3.2`);
    return { bytes: (b * sizes.params) / 8, label: `--target-bpw ${f.targetBpw}` };
  }
  if (f.size !== undefined) return { bytes: parseBytes(f.size, '--size'), label: `--size ${f.size}` };
  return { bytes: memory!, label: 'the memory budget' };
}

export interface SensitivityRequest {
  src: string | null;
  table: ModelTable;
  origin: string;
  how: string | undefined;
  method: Method;
  calib?: string;
  tokens: number;
  ops: () => Ops;
  onProgress?: (p: SensitivityProgress) => void;
}

/** Held-out calibration tokens: the last `tokens` of the set (`--calib` as every calibrating verb reads it). */
export function heldOutIds(src: string, calib: string, tokens: number): { ids: number[]; note: string } {
  const set = openCalibration(calib);
  const ids = calibrationIds(set, loadTokenizer(src));
  if (ids.length < 64) throw new MlxkError(`--calib ${calib}: ${ids.length} tokens, too few to measure sensitivities on (at least 64)`, 'use a longer calibration text');
  const held = ids.slice(Math.max(0, ids.length - tokens));
  return { ids: held, note: `--calib ${describeCalibration(set)}, last ${held.length} tokens` };
}

/** The sensitivity table the allocation uses: a file, measured KL, the weight proxy, or (config only) the prior. */
export async function sensitivityFor(r: SensitivityRequest, params: number): Promise<SensitivityTable> {
  const how = r.how ?? (r.src === null ? 'prior' : params <= KL_MAX_PARAMS && r.calib ? 'kl' : 'proxy');
  if (how !== 'kl' && how !== 'proxy' && how !== 'prior') return readSensitivityFile(how);
  if (how === 'prior') return priorTable(r.table, r.method, r.origin);
  if (r.src === null) throw new MlxkError(`--sensitivity ${how} reads the weights; ${r.origin} is a config.json only`, 'pass the model directory, or a sensitivity table file');
  if (how === 'proxy') return proxyTable({ src: r.src, method: r.method, ...(r.onProgress ? { onProgress: r.onProgress } : {}) });
  if (!r.calib) throw new MlxkError('--sensitivity kl measures on held-out calibration text: pass --calib FILE', 'or --sensitivity proxy, which needs no text');
  const { ids, note } = heldOutIds(r.src, r.calib, r.tokens);
  return measureKl({ src: r.src, ops: r.ops(), ids, seqLen: 256, method: r.method, note, ...(r.onProgress ? { onProgress: r.onProgress } : {}) });
}

export interface Allocated {
  recipe: Recipe;
  table: SensitivityTable;
  target: string;
}

/** Sizes, losses, budget → recipe; the error for a target below the smallest reachable size names that size. */
export async function allocateFor(r: SensitivityRequest, f: TargetFlags, memory?: { bytes: number; context: number; reserve?: number }): Promise<Allocated> {
  const sizes = recipeSizes(r.table);
  const budget = budgetBytes(f, sizes, memory ? memoryBudget(r.table, memory.bytes, memory.context, memory.reserve) : undefined);
  const smallest = smallestRecipeBytes(sizes);
  if (budget.bytes < smallest) {
    throw new MlxkError(`${budget.label} (${(budget.bytes / 1e9).toFixed(3)} GB of weights) is below the smallest this model reaches: ${(smallest / 1e9).toFixed(3)} GB, ${((smallest * 8) / sizes.params).toFixed(3)} bits per weight (every quantizable module at 2-bit g128)`, 'raise the target');
  }
  const table = await sensitivityFor(r, sizes.params);
  const origin = r.how && !['kl', 'proxy', 'prior'].includes(r.how) ? r.how : 'sensitivity table';
  const losses = lossMatrix(sizes, table, origin);
  return { recipe: allocateRecipe(sizes, losses, budget.bytes, r.method), table, target: budget.label };
}

export function recipeName(a: Allocated, params: number): string {
  return `alloc-${((a.recipe.bytes * 8) / params).toFixed(2)}bpw-${a.recipe.method}`;
}

export function allocatedPreset(a: Allocated, params: number) {
  const name = recipeName(a, params);
  const description = `Chosen by mlxk for ${a.target} from ${a.table.source} sensitivities (${a.table.note}): estimated loss ${a.recipe.estimatedLoss.toExponential(3)} nats/token, ${((a.recipe.bytes * 8) / params).toFixed(3)} bits per weight.`;
  return { name, description, preset: recipePreset(a.recipe, name, description) };
}

export function parseContext(text: string): number {
  return parseCount(text, '--context');
}

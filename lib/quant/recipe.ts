// A model's allocation units and the recipe chosen for them. A unit is what the allocator
// decides at once: each stacked expert projection of a layer, a layer's attention
// projections, its dense MLP, its shared experts, the embedding, lm_head. Each takes one of
// MLX's affine options (bits 2–8 × group 32/64/128) or stays 16-bit. A module whose input
// width the group does not divide takes the largest group that does (embed_q's 32 columns
// take g32 when its layer's attention is at g64), so every option is open to every unit.
// The result is an ordinary preset: one anchored rule per module.
import { DTYPE_BYTES } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import { QUANTIZABLE_KINDS, type ModelTable, type Role } from '../models/table.js';
import { SUPPORTED_BITS, SUPPORTED_GROUP_SIZES } from './affine.js';
import { allocate, smallestBytes, type AllocUnit } from './allocate.js';
import { type ModulePlan, outputTensors, planQuantization } from './plan.js';
import type { Method, Preset, QuantSpec } from './preset.js';

/** One storage option: affine bits and group size, or null for 16-bit (the model dtype). */
export type StorageOption = { bits: number; groupSize: number } | null;

export const STORAGE_OPTIONS: readonly StorageOption[] = [null, ...SUPPORTED_BITS.flatMap((bits) => SUPPORTED_GROUP_SIZES.map((groupSize) => ({ bits, groupSize })))];

/** "4g64", or "keep" for 16-bit. */
export function optionKey(o: StorageOption): string {
  return o ? `${o.bits}g${o.groupSize}` : 'keep';
}

export interface AllocGroup {
  id: string;
  role: Role;
  layer: number | null;
  modules: ModulePlan[];
}

const LAYER_GROUPED: ReadonlySet<Role> = new Set(['attn', 'dense_mlp', 'shared_expert']);

/** Every module with no quantization decided yet (the plan of a keep-everything preset). */
export function keptPlanModules(table: ModelTable): ModulePlan[] {
  return planQuantization(table, { name: 'keep', description: '', rules: [], default: { keep: true } }).modules;
}

/** The allocation units of a model, in table order. Routers, norms and the vision tower are never quantized and belong to none. */
export function allocationGroups(table: ModelTable): AllocGroup[] {
  const groups = new Map<string, AllocGroup>();
  for (const m of keptPlanModules(table)) {
    if (!QUANTIZABLE_KINDS.has(m.kind) || m.role === 'router' || m.role === 'vision' || m.role === 'norm') continue;
    const id = LAYER_GROUPED.has(m.role) && m.layer !== null ? `${m.role}.${m.layer}` : m.module;
    let g = groups.get(id);
    if (!g) {
      g = { id, role: m.role, layer: m.layer, modules: [] };
      groups.set(id, g);
    }
    g.modules.push(m);
  }
  return [...groups.values()];
}

function inputWidth(m: ModulePlan): number {
  const w = m.entries.find((e) => e.kind !== 'bias')!;
  return w.shape[w.shape.length - 1]!;
}

/** How module `m` is stored under option `o`: the requested group, or the largest smaller one dividing its width; null when kept. */
export function resolveSpec(m: ModulePlan, o: StorageOption): { bits: number; groupSize: number } | null {
  if (!o) return null;
  const width = inputWidth(m);
  const group = [...SUPPORTED_GROUP_SIZES].reverse().find((g) => g <= o.groupSize && width % g === 0);
  return group ? { bits: o.bits, groupSize: group } : null;
}

/** Bytes of module `m` stored under option `o`, exactly as the planner counts them. */
export function moduleBytes(table: ModelTable, m: ModulePlan, o: StorageOption): number {
  const spec = resolveSpec(m, o);
  const quant: QuantSpec | null = spec ? { ...spec, method: 'rtn' } : null;
  return outputTensors(table, { ...m, quant }).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[t.dtype], 0);
}

/** Losses per unit and option: what the allocator minimises (see lib/calib/sensitivity.ts). */
export interface SensitivityTable {
  format: 'mlxk-sensitivity';
  version: 1;
  model: string;
  modelType: string;
  /** kl: measured one unit at a time; proxy: Σ importance·ΔW² scaled per role; prior: from the option alone. */
  source: 'kl' | 'proxy' | 'prior';
  /** The quantizer the losses were measured with. */
  method: Method;
  note: string;
  groups: { id: string; loss: Record<string, number> }[];
}

export interface Recipe {
  /** Per unit: the option chosen and its estimated loss. */
  groups: { id: string; option: StorageOption; loss: number; bytes: number }[];
  /** Per module: the storage the preset gives it. */
  modules: Map<string, QuantSpec | null>;
  /** Per module: the unit it belongs to (index into groups). */
  unitOf: Map<string, number>;
  bytes: number;
  params: number;
  estimatedLoss: number;
  method: Method;
}

export interface RecipeSizes {
  groups: AllocGroup[];
  /** Bytes of everything outside the units (norms, routers, vision tower). */
  fixedBytes: number;
  params: number;
  /** Bytes per unit per STORAGE_OPTIONS entry. */
  bytes: number[][];
}

export function recipeSizes(table: ModelTable): RecipeSizes {
  const groups = allocationGroups(table);
  const inGroup = new Set(groups.flatMap((g) => g.modules.map((m) => m.module)));
  const all = keptPlanModules(table);
  const fixedBytes = all.filter((m) => !inGroup.has(m.module)).reduce((a, m) => a + moduleBytes(table, m, null), 0);
  const params = all.reduce((a, m) => a + m.params, 0);
  const bytes = groups.map((g) => STORAGE_OPTIONS.map((o) => g.modules.reduce((a, m) => a + moduleBytes(table, m, o), 0)));
  return { groups, fixedBytes, params, bytes };
}

/** Smallest bytes any recipe reaches (every unit at its smallest option). */
export function smallestRecipeBytes(sizes: RecipeSizes): number {
  return sizes.fixedBytes + sizes.bytes.reduce((a, b) => a + Math.min(...b), 0);
}

/** Loss of each unit under each option, in STORAGE_OPTIONS order, read from a sensitivity table checked against the model. */
export function lossMatrix(sizes: RecipeSizes, s: SensitivityTable, origin: string): number[][] {
  const byId = new Map(s.groups.map((g) => [g.id, g.loss]));
  return sizes.groups.map((g) => {
    const loss = byId.get(g.id);
    if (!loss) throw new MlxkError(`${origin}: has no losses for "${g.id}" (a sensitivity table of another model?)`, 'measure this model\'s own, or leave --sensitivity out');
    return STORAGE_OPTIONS.map((o) => {
      const v = o ? loss[optionKey(o)] : 0;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new MlxkError(`${origin}: "${g.id}" has no finite loss for option ${optionKey(o)}`);
      return v;
    });
  });
}

/** The recipe of least estimated loss within `budgetBytes` (the whole model's bytes). */
export function allocateRecipe(sizes: RecipeSizes, losses: number[][], budgetBytes: number, method: Method): Recipe {
  const units: AllocUnit[] = sizes.groups.map((g, i) => ({ id: g.id, options: STORAGE_OPTIONS.map((_, k) => ({ bytes: sizes.bytes[i]![k]!, loss: losses[i]![k]! })) }));
  const smallest = sizes.fixedBytes + smallestBytes(units);
  if (budgetBytes < smallest) {
    throw new MlxkError(`the target is ${(budgetBytes / 1e9).toFixed(3)} GB (${((budgetBytes * 8) / sizes.params).toFixed(3)} bits per weight), below the smallest this model reaches: ${(smallest / 1e9).toFixed(3)} GB (${((smallest * 8) / sizes.params).toFixed(3)} bits per weight)`, 'raise the target');
  }
  const a = allocate(units, budgetBytes - sizes.fixedBytes);
  const modules = new Map<string, QuantSpec | null>();
  const unitOf = new Map<string, number>();
  const groups = sizes.groups.map((g, i) => {
    const option = STORAGE_OPTIONS[a.choice[i]!]!;
    for (const m of g.modules) {
      const spec = resolveSpec(m, option);
      modules.set(m.module, spec ? { ...spec, method } : null);
      unitOf.set(m.module, i);
    }
    return { id: g.id, option, loss: losses[i]![a.choice[i]!]!, bytes: sizes.bytes[i]![a.choice[i]!]! };
  });
  return { groups, modules, unitOf, bytes: sizes.fixedBytes + a.bytes, params: sizes.params, estimatedLoss: a.loss, method };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The recipe as preset JSON (one anchored rule per module), loadable with --preset FILE. */
export function recipePresetJson(r: Recipe, name: string, description: string): Record<string, unknown> {
  const rules = [...r.modules].map(([module, q]) => (q ? { pattern: `^${escapeRegex(module)}$`, bits: q.bits, group_size: q.groupSize, method: q.method } : { pattern: `^${escapeRegex(module)}$`, keep: true }));
  return { name, description, default: { keep: true }, rules };
}

/** The same recipe as a Preset object (no file round trip). */
export function recipePreset(r: Recipe, name: string, description: string): Preset {
  return {
    name,
    description,
    default: { keep: true },
    rules: [...r.modules].map(([module, q]) => ({
      origin: `allocated: unit ${r.groups[r.unitOf.get(module)!]!.id}, est. loss ${r.groups[r.unitOf.get(module)!]!.loss.toExponential(2)}`,
      pattern: new RegExp(`^${escapeRegex(module)}$`),
      roles: null,
      layers: null,
      action: q ? { ...q } : { keep: true as const },
      optional: false,
    })),
  };
}

/** One line per unit: "expert.1 gate_proj 2g64 (est. KL 0.0123)". */
export function recipeLines(r: Recipe): string[] {
  return r.groups.map((g) => `${g.id.padEnd(48)} ${optionKey(g.option).padEnd(6)} est. loss ${g.loss.toExponential(2)}`);
}

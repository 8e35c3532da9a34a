// Decides, per module, how it is stored, and lists the exact output tensors.
// Everything mlxk quantize writes comes from this plan, so `mlxk plan` sizes
// are the written sizes, not an estimate.
import { DTYPE_BYTES, type DType } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import type { PlannedTensor } from '../io/safetensorsWriter.js';
import { ggufName } from '../models/ggufNames.js';
import { type Kind, type ModelTable, params, QUANTIZABLE_KINDS, type Role, type TensorEntry } from '../models/table.js';
import type { Preset, QuantSpec, Rule } from './preset.js';

export interface ModulePlan {
  module: string;
  role: Role;
  layer: number | null;
  kind: Kind;
  entries: TensorEntry[];
  params: number;
  quant: QuantSpec | null;
  /** Why: the deciding rule's origin, "default", or the reason it cannot be quantized. */
  reason: string;
  /** Set when an override replaced the rule's spec: what the override said. */
  overridden?: string;
}

export interface OutputTensor extends PlannedTensor {
  entry: TensorEntry;
  part: 'weight' | 'scales' | 'biases' | 'plain';
  quant: QuantSpec | null;
}

export interface RoleTotal {
  params: number;
  bytes: number;
}

export interface QuantPlan {
  table: ModelTable;
  preset: Preset;
  modules: ModulePlan[];
  tensors: OutputTensor[];
  params: number;
  bytes: number;
  byRole: Map<Role, RoleTotal>;
  /** config.json "quantization" (also written as "quantization_config"). */
  quantizationConfig: Record<string, unknown>;
}

function matches(rule: Rule, m: ModulePlan, numLayers: number): boolean {
  if (rule.roles && !rule.roles.includes(m.role)) return false;
  if (rule.layers && !rule.layers(m.layer, numLayers)) return false;
  if (rule.pattern) {
    const gguf = ggufName(m.module);
    if (!rule.pattern.test(m.module) && !(gguf && rule.pattern.test(gguf))) return false;
  }
  return true;
}

function groupModules(table: ModelTable): ModulePlan[] {
  const byModule = new Map<string, ModulePlan>();
  for (const e of table.entries) {
    let m = byModule.get(e.module);
    if (!m) {
      m = { module: e.module, role: e.role, layer: e.layer, kind: e.kind, entries: [], params: 0, quant: null, reason: '' };
      byModule.set(e.module, m);
    }
    m.entries.push(e);
    m.params += params(e);
    if (e.kind !== 'bias') m.kind = e.kind;
  }
  return [...byModule.values()];
}

/**
 * Apply `rules` (first match wins) then the preset default to every module of `table`;
 * `overrides` replace the chosen spec of a quantized module (an INT4 source with fewer levels).
 */
export function planQuantization(table: ModelTable, preset: Preset, extraRules: Rule[] = [], overrides?: ReadonlyMap<string, QuantSpec & { why: string }>): QuantPlan {
  const rules = [...extraRules, ...preset.rules];
  const modules = groupModules(table);
  const used = new Array<boolean>(rules.length).fill(false);
  for (const m of modules) {
    if (m.role === 'router') {
      m.reason = 'router (never quantized)';
      continue;
    }
    if (!QUANTIZABLE_KINDS.has(m.kind)) {
      m.reason = m.kind === 'norm' ? 'norm (never quantized)' : 'not a linear layer';
      continue;
    }
    if (m.role === 'vision') {
      m.reason = 'vision tower (passed through)';
      continue;
    }
    const i = rules.findIndex((r) => matches(r, m, table.numLayers));
    if (i >= 0) used[i] = true;
    const action = i >= 0 ? rules[i]!.action : preset.default;
    m.reason = i >= 0 ? rules[i]!.origin : 'default';
    if (action.keep) continue;
    const weight = m.entries.find((e) => e.kind !== 'bias')!;
    const inDim = weight.shape[weight.shape.length - 1]!;
    if (inDim % action.groupSize !== 0) {
      m.reason = `last dim ${inDim} is not a multiple of group size ${action.groupSize} (kept, as mlx-lm does)`;
      continue;
    }
    m.quant = { bits: action.bits, groupSize: action.groupSize, method: action.method };
    const o = overrides?.get(m.module);
    if (o) {
      m.quant = { bits: o.bits, groupSize: o.groupSize, method: o.method };
      m.reason += `; ${o.why}`;
      m.overridden = o.why;
    }
  }
  const unused = rules.filter((r, i) => !used[i] && !r.optional);
  if (unused.length > 0) {
    throw new MlxkError(`${unused[0]!.origin} matches no quantizable module of this ${table.modelType} model`, 'check the pattern against `mlxk inspect`, or mark the rule "optional": true');
  }
  return finishPlan(table, preset, modules);
}

/** The tensors `m` is written as with `m.quant` (weight, scales, biases, or the plain tensors). */
export function outputTensors(table: ModelTable, m: ModulePlan): OutputTensor[] {
  const out: OutputTensor[] = [];
  for (const e of m.entries) {
    const plainDtype: DType = e.keepDtype ?? table.dtype;
    if (!m.quant || e.kind === 'bias') {
      out.push({ name: e.name, dtype: plainDtype, shape: e.shape, entry: e, part: 'plain', quant: null });
      continue;
    }
    const { bits, groupSize } = m.quant;
    const lead = e.shape.slice(0, -1);
    const inDim = e.shape[e.shape.length - 1]!;
    out.push({ name: e.name, dtype: 'U32', shape: [...lead, (inDim * bits) / 32], entry: e, part: 'weight', quant: m.quant });
    out.push({ name: `${m.module}.scales`, dtype: table.dtype, shape: [...lead, inDim / groupSize], entry: e, part: 'scales', quant: m.quant });
    out.push({ name: `${m.module}.biases`, dtype: table.dtype, shape: [...lead, inDim / groupSize], entry: e, part: 'biases', quant: m.quant });
  }
  return out;
}

function finishPlan(table: ModelTable, preset: Preset, modules: ModulePlan[]): QuantPlan {
  const tensors: OutputTensor[] = [];
  const byRole = new Map<Role, RoleTotal>();
  let totalParams = 0;
  let totalBytes = 0;
  const specCount = new Map<string, number>();
  for (const m of modules) {
    const ts = outputTensors(table, m);
    tensors.push(...ts);
    const bytes = ts.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[t.dtype], 0);
    const r = byRole.get(m.role) ?? { params: 0, bytes: 0 };
    r.params += m.params;
    r.bytes += bytes;
    byRole.set(m.role, r);
    totalParams += m.params;
    totalBytes += bytes;
    if (m.quant) {
      const key = `${m.quant.bits}/${m.quant.groupSize}`;
      specCount.set(key, (specCount.get(key) ?? 0) + m.params);
    }
  }
  return { table, preset, modules, tensors, params: totalParams, bytes: totalBytes, byRole, quantizationConfig: quantizationConfig(modules, preset, specCount) };
}

/**
 * mlx-lm's config layout (mlx_lm/utils.py quantize_model): a global
 * {group_size, bits, mode} plus per-module-path entries where a module differs.
 * Unlisted modules are quantized with the global parameters iff their .scales
 * exist, so kept modules need no entry.
 */
function quantizationConfig(modules: ModulePlan[], preset: Preset, specCount: Map<string, number>): Record<string, unknown> {
  let global: { bits: number; groupSize: number } | null = preset.default.keep ? null : preset.default;
  if (!global || !specCount.has(`${global.bits}/${global.groupSize}`)) {
    const top = [...specCount.entries()].sort((a, b) => b[1] - a[1])[0];
    if (top) {
      const [bits, groupSize] = top[0].split('/').map(Number) as [number, number];
      global = { bits, groupSize };
    }
  }
  if (!global) return {};
  const config: Record<string, unknown> = { group_size: global.groupSize, bits: global.bits, mode: 'affine' };
  for (const m of modules) {
    if (m.quant && (m.quant.bits !== global.bits || m.quant.groupSize !== global.groupSize)) {
      config[m.module] = { group_size: m.quant.groupSize, bits: m.quant.bits, mode: 'affine' };
    }
  }
  return config;
}

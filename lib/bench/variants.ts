// Quantization variants for eval-quants: a preset name or file, optionally followed by
// `:mse` / `:rtn` / `:wmse` / `:gptq` / `:learned` (quantizer) and `:g32` / `:g64` / `:g128` (group size) applied to every
// quantized module of the preset, e.g. `q4:mse:g32`; or `bpwB[:method]`, the allocated recipe
// for B bits per weight (lib/quant/recipe.ts) from a sensitivity table.
import { MlxkError } from '../io/errors.js';
import { type Action, loadPreset, METHODS, type Method, type Preset } from '../quant/preset.js';

export interface QuantVariant {
  /** As given, e.g. "q4:mse". */
  name: string;
  preset: Preset;
}

function override(a: Action, method: Method | undefined, groupSize: number | undefined): Action {
  if (a.keep) return a;
  return { ...a, ...(method ? { method } : {}), ...(groupSize ? { groupSize } : {}) };
}

/** Makes the preset of a `bpwB` item: the allocation for B bits per weight with that quantizer (default mse). */
export type TargetPreset = (bitsPerWeight: number, method: Method) => Preset;

export function parseVariant(item: string, target?: TargetPreset): QuantVariant {
  const [base, ...mods] = item.split(':');
  if (!base) throw new MlxkError(`--presets: "${item}" names no preset`);
  let method: Method | undefined;
  let groupSize: number | undefined;
  for (const m of mods) {
    const g = /^g(\d+)$/.exec(m);
    if ((METHODS as readonly string[]).includes(m)) method = m as Method;
    else if (g) groupSize = Number(g[1]);
    else throw new MlxkError(`--presets: "${m}" in "${item}" is not a quantizer (${METHODS.join(', ')}) or a group size (g32, g64, g128)`);
  }
  const bpw = /^bpw(\d+(?:\.\d+)?)$/.exec(base);
  if (bpw) {
    if (!target) throw new MlxkError(`--presets: "${item}" asks for an allocation at ${bpw[1]} bits per weight: pass --sensitivity FILE (from mlxk sensitivity) or --sensitivity proxy`);
    if (groupSize) throw new MlxkError(`--presets: "${item}": the allocation chooses group sizes itself; leave out :g${groupSize}`);
    const p = target(Number(bpw[1]), method ?? 'mse');
    return { name: item, preset: { ...p, name: item } };
  }
  const p = loadPreset(base);
  const changed = [method ? `quantizer ${method}` : '', groupSize ? `group size ${groupSize}` : ''].filter(Boolean).join(', ');
  const preset: Preset = {
    ...p,
    name: item,
    description: changed ? `${p.description} Here with ${changed} for every quantized module.` : p.description,
    rules: p.rules.map((r) => ({ ...r, action: override(r.action, method, groupSize) })),
    default: override(p.default, method, groupSize),
  };
  return { name: item, preset };
}

export function parseVariants(list: string, target?: TargetPreset): QuantVariant[] {
  const items = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new MlxkError('--presets: name at least one preset (e.g. q8,q4,mixed_3_6)');
  const dup = items.find((x, i) => items.indexOf(x) !== i);
  if (dup) throw new MlxkError(`--presets: "${dup}" is listed twice`);
  return items.map((x) => parseVariant(x, target));
}

// Quantization variants for eval-quants: a preset name or file, optionally followed by
// `:mse` / `:rtn` (quantizer) and `:g32` / `:g64` / `:g128` (group size) applied to every
// quantized module of the preset, e.g. `q4:mse:g32`.
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

export function parseVariant(item: string): QuantVariant {
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

export function parseVariants(list: string): QuantVariant[] {
  const items = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new MlxkError('--presets: name at least one preset (e.g. q8,q4,mixed_3_6)');
  const dup = items.find((x, i) => items.indexOf(x) !== i);
  if (dup) throw new MlxkError(`--presets: "${dup}" is listed twice`);
  return items.map(parseVariant);
}

// Quantization presets: an ordered list of rules, first match wins, plus a
// default. A rule selects modules by regex on the module path (and on its
// llama.cpp name), by role and/or by layer, and says {bits, group_size, method}
// or keep (stay in the model dtype). llama.cpp `--custom-q` lines
// (`regex=type`) are accepted and mapped to MLX bit widths.
import { backtrackingRisk } from '../io/regexGuard.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlxkError, oneLine } from '../io/errors.js';
import { ROLES, type Role } from '../models/table.js';
import { isSupportedBits, isSupportedGroupSize, SUPPORTED_BITS, SUPPORTED_GROUP_SIZES } from './affine.js';

export const PRESETS_DIR = fileURLToPath(new URL('../../../presets/', import.meta.url));

export type Method = 'rtn' | 'mse' | 'wmse' | 'gptq' | 'learned';
export const METHODS: readonly Method[] = ['rtn', 'mse', 'wmse', 'gptq', 'learned'];

/** Methods that quantize against calibration inputs (`--calib`); without them a module falls back to mse. */
export const CALIBRATED_METHODS: readonly Method[] = ['gptq', 'learned'];

/** True when a module of the preset (or of the extra rules) is quantized with a calibrated method. */
export function usesCalibration(preset: Preset, extraRules: Rule[] = []): boolean {
  return [preset.default, ...preset.rules.map((r) => r.action), ...extraRules.map((r) => r.action)].some((a) => !a.keep && CALIBRATED_METHODS.includes(a.method));
}

/** Methods a worker runs on rows alone (wmse reads an imatrix row when there is one). */
export type RowMethod = 'rtn' | 'mse' | 'wmse';

/** The row method a module is quantized with: calibrated methods fall back to mse where no inputs reach it (embeddings). */
export function dataFreeMethod(m: Method): RowMethod {
  return m === 'rtn' || m === 'wmse' ? m : 'mse';
}

export interface QuantSpec {
  bits: number;
  groupSize: number;
  method: Method;
}

export type Action = { keep: true } | ({ keep?: false } & QuantSpec);

export interface Rule {
  /** Where the rule came from, for messages: "presets/x.json rules[2]" or "--custom-q 'a=q4_K'". */
  origin: string;
  pattern: RegExp | null;
  roles: Role[] | null;
  layers: LayerSelector | null;
  action: Action;
  /** Built-in presets cover several architectures; their rules may match nothing. */
  optional: boolean;
}

export interface Preset {
  name: string;
  description: string;
  rules: Rule[];
  default: Action;
}

export type LayerSelector = (layer: number | null, numLayers: number) => boolean;

/** mlx-lm's mixed recipes (mixed_quant_predicate_builder): the layers that get more bits. */
export function mlxMoreBits(layer: number | null, numLayers: number): boolean {
  const idx = layer ?? 0;
  const eighth = Math.floor(numLayers / 8);
  return idx < eighth || idx >= Math.floor((7 * numLayers) / 8) || (idx - eighth) % 3 === 2;
}

/** "mlx_more_bits", or comma-separated items: N, A-B, first:K, last:K. */
export function parseLayers(spec: string, where: string): LayerSelector {
  if (spec === 'mlx_more_bits') return mlxMoreBits;
  const items = spec.split(',').map((s) => s.trim());
  const tests: LayerSelector[] = items.map((item) => {
    let m: RegExpExecArray | null;
    if ((m = /^(\d+)$/.exec(item))) return (l) => l === Number(m![1]);
    if ((m = /^(\d+)-(\d+)$/.exec(item))) return (l) => l !== null && l >= Number(m![1]) && l <= Number(m![2]);
    if ((m = /^first:(\d+)$/.exec(item))) return (l) => l !== null && l < Number(m![1]);
    if ((m = /^last:(\d+)$/.exec(item))) return (l, n) => l !== null && l >= n - Number(m![1]);
    throw new MlxkError(`${where}: layers "${item}" is not N, A-B, first:K, last:K or mlx_more_bits`);
  });
  return (l, n) => tests.some((t) => t(l, n));
}

function compileRegex(src: unknown, where: string): RegExp {
  if (typeof src !== 'string' || src === '') throw new MlxkError(`${where}: expected a non-empty regular expression string`);
  const risky = backtrackingRisk(src);
  if (risky !== undefined) throw new MlxkError(`${where}: regular expression ${JSON.stringify(src)} ${risky}`);
  try {
    return new RegExp(src);
  } catch (e) {
    throw new MlxkError(`${where}: invalid regular expression ${JSON.stringify(src)} (${(e as Error).message.replace(/^Invalid regular expression: /, '')})`);
  }
}

export function parseAction(obj: Record<string, unknown>, where: string, fallback?: QuantSpec): Action {
  if (obj.keep === true) return { keep: true };
  const bits = obj.bits ?? fallback?.bits;
  if (typeof bits !== 'number' || !isSupportedBits(bits)) {
    throw new MlxkError(`${where}: bits ${JSON.stringify(bits)} is not supported (expected one of ${SUPPORTED_BITS.join(', ')}, or "keep": true)`);
  }
  const groupSize = obj.group_size ?? fallback?.groupSize ?? 64;
  if (typeof groupSize !== 'number' || !isSupportedGroupSize(groupSize)) {
    throw new MlxkError(`${where}: group_size ${JSON.stringify(groupSize)} is not supported (expected one of ${SUPPORTED_GROUP_SIZES.join(', ')})`);
  }
  const method = obj.method ?? fallback?.method ?? 'rtn';
  if (typeof method !== 'string' || !(METHODS as readonly string[]).includes(method)) {
    throw new MlxkError(`${where}: method ${JSON.stringify(method)} is not supported (expected one of ${METHODS.join(', ')})`);
  }
  return { bits, groupSize, method: method as Method };
}

const RULE_KEYS = new Set(['pattern', 'role', 'layers', 'bits', 'group_size', 'method', 'keep', 'optional', 'comment']);

export function parseRule(obj: unknown, where: string, fallback: QuantSpec | undefined): Rule {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new MlxkError(`${where}: a rule must be an object`);
  const r = obj as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) throw new MlxkError(`${where}: unknown key "${k}" (expected ${[...RULE_KEYS].join(', ')})`);
  let roles: Role[] | null = null;
  if (r.role !== undefined) {
    const list = Array.isArray(r.role) ? r.role : [r.role];
    for (const role of list) if (!(ROLES as readonly unknown[]).includes(role)) throw new MlxkError(`${where}: role ${JSON.stringify(role)} is not one of ${ROLES.join(', ')}`);
    roles = list as Role[];
  }
  if (r.pattern === undefined && roles === null && r.layers === undefined) throw new MlxkError(`${where}: a rule needs "pattern", "role" or "layers"`);
  if (r.layers !== undefined && typeof r.layers !== 'string') throw new MlxkError(`${where}: layers must be a string such as "0-2,last:3" or "mlx_more_bits"`);
  return {
    origin: where,
    pattern: r.pattern === undefined ? null : compileRegex(r.pattern, `${where}.pattern`),
    roles,
    layers: r.layers === undefined ? null : parseLayers(r.layers as string, `${where}.layers`),
    action: parseAction(r, where, fallback),
    optional: r.optional === true,
  };
}

/** llama.cpp / ik_llama.cpp quant type names → MLX affine bits (nearest width MLX has). */
export function ggmlTypeToAction(type: string, where: string, groupSize = 64): Action {
  const t = type.trim().toLowerCase();
  if (['f32', 'f16', 'bf16'].includes(t)) return { keep: true };
  const bits = /^i?q(\d)/.exec(t)?.[1];
  const map: Record<string, number> = { '1': 2, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '8': 8 };
  if (!bits || !map[bits]) throw new MlxkError(`${where}: quant type "${type}" has no MLX equivalent (expected q2_K…q8_0, iq2_*…iq4_*, f16, bf16)`);
  return { bits: map[bits]!, groupSize, method: 'rtn' };
}

/** Lines or comma-separated items `regex=type` (blank lines and # comments skipped). */
export function parseCustomQ(text: string, origin: string): Rule[] {
  const items = text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s && !s.startsWith('#'));
  return items.map((item, i) => {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) throw new MlxkError(`${origin} item ${i + 1}: "${item}" is not regex=type`);
    const where = `${origin} item ${i + 1} ("${item}")`;
    return { origin: where, pattern: compileRegex(item.slice(0, eq), where), roles: null, layers: null, action: ggmlTypeToAction(item.slice(eq + 1), where), optional: false };
  });
}

export function parsePreset(json: unknown, origin: string): Preset {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new MlxkError(`${origin}: a preset must be a JSON object`);
  const p = json as Record<string, unknown>;
  const def = p.default;
  if (def === null || typeof def !== 'object' || Array.isArray(def)) throw new MlxkError(`${origin}: "default" must be an object such as {"bits": 4, "group_size": 64}`);
  const defaultAction = parseAction(def as Record<string, unknown>, `${origin} default`);
  const fallback = defaultAction.keep ? undefined : (defaultAction as QuantSpec);
  const rules = p.rules ?? [];
  if (!Array.isArray(rules)) throw new MlxkError(`${origin}: "rules" must be a list`);
  return {
    name: typeof p.name === 'string' ? p.name : basename(origin, '.json'),
    description: typeof p.description === 'string' ? p.description : '',
    rules: rules.map((r, i) => parseRule(r, `${origin} rules[${i}]`, fallback)),
    default: defaultAction,
  };
}

export function builtinPresetNames(): string[] {
  return readdirSync(PRESETS_DIR).filter((f) => f.endsWith('.json')).map((f) => basename(f, '.json')).sort();
}

/** A built-in name, a .json preset file, or a text file of llama.cpp custom-q lines. */
export function loadPreset(arg: string): Preset {
  const builtin = join(PRESETS_DIR, `${arg}.json`);
  const path = existsSync(builtin) ? builtin : existsSync(arg) ? arg : null;
  if (!path) throw new MlxkError(`preset "${arg}" is neither a built-in preset nor a file`, `built-in presets: ${builtinPresetNames().join(', ')}`);
  const text = readFileSync(path, 'utf8');
  if (!path.endsWith('.json')) {
    return { name: basename(path), description: `llama.cpp custom-q rules from ${path}`, rules: parseCustomQ(text, path), default: { keep: true } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MlxkError(`${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  return parsePreset(json, path === builtin ? `presets/${arg}.json` : path);
}

/** `--bits B [--group-size G]`: every quantizable module at one width. */
export function uniformPreset(bits: number, groupSize: number, method: Method = 'rtn'): Preset {
  const action = parseAction({ bits, group_size: groupSize, method }, '--bits/--group-size');
  return { name: `q${bits}-g${groupSize}`, description: `uniform ${bits}-bit, group ${groupSize}`, rules: [], default: action };
}

// What a finished conversion records about itself, so that re-running the same `quantize` into
// the same directory is an answer ("already complete", exit 0) a retry script can tell from a
// failure, and a re-run with other settings is refused naming the setting that differs. The plan
// hash decides; the readable settings only explain a mismatch, one setting per line of the diff.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../io/safetensorsWriter.js';
import type { QuantPlan } from './plan.js';

/** Written last (after config.json); absent while a conversion is unfinished. */
export const DONE_FILE = '.mlxk-complete.json';

export interface ConversionSettings {
  source: string;
  /** Source shard files (absolute paths) → names and sizes: a re-downloaded or edited source is another input. */
  sourceFiles: Array<[string, number]>;
  preset: string;
  /** Per module: "4-bit g64 mse" or "kept". */
  modules: Record<string, string>;
  /** Calibration inputs by the flag that sets each (--calib is the set's sha256), or null without one. */
  calibration: Record<string, unknown> | null;
  /** sha256 of the imatrix statistics, or '' without one. */
  imatrix: string;
  wmsePrior: string;
  shardSize: number | null;
  /** With --target-bpw / --size / --memory: the flags that chose the recipe, with digests of the files they name; else null. */
  allocation?: Record<string, unknown> | null;
}

export interface DoneRecord<R> {
  tool: 'mlxk';
  planHash: string;
  settings: ConversionSettings;
  finished: string;
  report: R;
}

export function conversionSettings(src: string, shardFiles: string[], plan: QuantPlan, extra: Omit<ConversionSettings, 'source' | 'sourceFiles' | 'preset' | 'modules'>): ConversionSettings {
  const modules: Record<string, string> = {};
  for (const m of plan.modules) modules[m.module] = m.quant ? `${m.quant.bits}-bit g${m.quant.groupSize} ${m.quant.method}` : 'kept';
  return {
    source: src,
    sourceFiles: shardFiles.map((f) => [basename(f), statSync(f).size]),
    preset: plan.preset.name,
    modules,
    ...extra,
  };
}

export function writeDone<R>(dst: string, planHash: string, settings: ConversionSettings, report: R): void {
  const record: DoneRecord<R> = { tool: 'mlxk', planHash, settings, finished: new Date().toISOString(), report };
  writeFileAtomic(join(dst, DONE_FILE), `${JSON.stringify(record)}\n`);
}

/** The record of a finished conversion in `dst`, or null (none, or unreadable: then the directory is just "not empty"). */
export function readDone<R>(dst: string): DoneRecord<R> | null {
  const path = join(dst, DONE_FILE);
  if (!existsSync(path)) return null;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as DoneRecord<R>;
    return r && r.tool === 'mlxk' && typeof r.planHash === 'string' && r.settings && typeof r.settings === 'object' ? r : null;
  } catch {
    return null;
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : v === undefined ? 'none' : JSON.stringify(v));

/** What differs between two settings, most telling first, as "name: before → now" phrases; empty when nothing readable does. */
export function settingsDiff(before: ConversionSettings, now: ConversionSettings): string[] {
  const out: string[] = [];
  if (before.source !== now.source) out.push(`source ${show(before.source)} before, ${show(now.source)} now`);
  const files = new Map(before.sourceFiles ?? []);
  const changed = now.sourceFiles.filter(([f, n]) => files.get(f) !== n);
  if (before.source === now.source && (changed.length > 0 || files.size !== now.sourceFiles.length)) {
    const f = changed[0];
    out.push(f ? `source file ${f[0]} is ${f[1]} bytes, was ${files.has(f[0]) ? `${files.get(f[0])} bytes` : 'not there'}` : `the source had ${files.size} shard file(s), now ${now.sourceFiles.length}`);
  }
  if (before.preset !== now.preset) out.push(`preset ${show(before.preset)} before, ${show(now.preset)} now`);
  const names = [...new Set([...Object.keys(before.modules ?? {}), ...Object.keys(now.modules)])];
  const moduleDiffs = names.filter((n) => before.modules?.[n] !== now.modules[n]);
  if (moduleDiffs.length > 0) {
    const n = moduleDiffs[0]!;
    out.push(`module ${n}: ${before.modules?.[n] ?? 'absent'} before, ${now.modules[n] ?? 'absent'} now${moduleDiffs.length > 1 ? ` (and ${moduleDiffs.length - 1} more module(s))` : ''}`);
  }
  const cb = before.calibration ?? null;
  const cn = now.calibration ?? null;
  if ((cb === null) !== (cn === null)) out.push(cb === null ? 'calibrated now (--calib), not before' : 'calibrated before (--calib), not now');
  else if (cb && cn) for (const k of new Set([...Object.keys(cb), ...Object.keys(cn)])) if (JSON.stringify(cb[k]) !== JSON.stringify(cn[k])) out.push(`${k} ${show(cb[k])} before, ${show(cn[k])} now`);
  if ((before.imatrix ?? '') !== now.imatrix) out.push(!before.imatrix ? 'an --imatrix now, none before' : !now.imatrix ? 'an --imatrix before, none now' : 'another --imatrix (its statistics differ)');
  if (before.wmsePrior !== now.wmsePrior) out.push(`wmse prior ${show(before.wmsePrior)} before, ${show(now.wmsePrior)} now`);
  const ab = before.allocation ?? null;
  const an = now.allocation ?? null;
  if ((ab === null) !== (an === null)) out.push(ab === null ? 'a size target now (--target-bpw / --size / --memory), none before' : 'a size target before (--target-bpw / --size / --memory), none now');
  else if (ab && an) for (const k of new Set([...Object.keys(ab), ...Object.keys(an)])) if (JSON.stringify(ab[k]) !== JSON.stringify(an[k])) out.push(`${k} ${show(ab[k])} before, ${show(an[k])} now`);
  if ((before.shardSize ?? null) !== now.shardSize) out.push(`--shard-size ${before.shardSize ?? 'default'} bytes before, ${now.shardSize ?? 'default'} now`);
  return out;
}

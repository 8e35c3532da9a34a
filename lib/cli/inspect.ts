// `mlxk inspect MODEL`: what a checkpoint is — architecture, tensors, how each
// role is stored (dtype or bits), sizes, and its quantization config.
import type { Command } from 'commander';
import { Checkpoint } from '../io/checkpoint.js';
import { CheckpointError, MlxkError } from '../io/errors.js';
import { validateModelFiles } from '../models/validate.js';
import { scanNonFinite } from '../io/nonfinite.js';
import { tensorTable } from '../models/registry.js';
import { params, ROLES, type Role } from '../models/table.js';
import { roundingFor } from '../io/dtype.js';
import { openEntry } from '../quant/entrySource.js';
import { entryLevelBits } from '../quant/int4Levels.js';
import { describeEntry } from '../quant/storage.js';
import { humanBytes, humanCount } from './units.js';

interface RoleSummary {
  params: number;
  bytes: number;
  formats: Map<string, number>;
}

/** Checkpoints up to this size are scanned for NaN/Inf unless told otherwise (a read of every byte). */
export const SCAN_DEFAULT_MAX_BYTES = 4 * 2 ** 30;

export interface InspectOptions {
  /** Read every float tensor for NaN/Inf (default: when the checkpoint is at most SCAN_DEFAULT_MAX_BYTES). */
  scanValues?: boolean;
}

function nonFinite(ckpt: Checkpoint, opts: InspectOptions): Record<string, unknown> {
  const scan = opts.scanValues ?? ckpt.dataBytes <= SCAN_DEFAULT_MAX_BYTES;
  if (!scan) return { nonfinite: null, nonfinite_note: `values not scanned (${humanBytes(ckpt.dataBytes)}); pass --scan-values to read them all` };
  return { nonfinite: scanNonFinite(ckpt).map((t) => ({ tensor: t.tensor, count: t.count })) };
}

export function inspectModel(arg: string, opts: InspectOptions = {}): Record<string, unknown> {
  const ckpt = Checkpoint.open(arg);
  try {
    const dtypes: Record<string, number> = {};
    for (const t of ckpt.tensors.values()) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    const base = {
      path: ckpt.dir,
      model_type: ckpt.config.model_type ?? null,
      files: ckpt.shardFiles.length,
      tensors: ckpt.tensors.size,
      bytes: ckpt.dataBytes,
      dtypes,
      quantization: ckpt.config.quantization ?? ckpt.config.quantization_config ?? null,
      ...nonFinite(ckpt, opts),
    };
    let table;
    try {
      table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
    } catch (e) {
      // An architecture mlxk does not know is worth showing; a broken config of one it knows is not.
      if (e instanceof MlxkError && !(e instanceof CheckpointError)) return { ...base, architecture: null, note: e.message };
      throw e;
    }
    validateModelFiles(ckpt.dir, table);
    const roles = new Map<Role, RoleSummary>();
    const missing: string[] = [];
    // Symmetric INT4 weights by the levels their groups use (int4Levels.ts): GSQ's 2-bit models fill 4 of 16.
    const int4Levels: Record<string, number> = {};
    for (const e of table.entries) {
      const s = describeEntry(ckpt, e);
      if (!s) {
        missing.push(e.name);
        continue;
      }
      if (e.kind !== 'bias' && s.label.startsWith('INT4')) {
        const rows = openEntry(ckpt, e);
        const bits = rows.int4GroupSize === null ? null : entryLevelBits(rows, roundingFor(table.dtype));
        if (bits !== null) {
          const key = `${bits}-bit g${rows.int4GroupSize}`;
          int4Levels[key] = (int4Levels[key] ?? 0) + 1;
        }
      }
      const r = roles.get(e.role) ?? { params: 0, bytes: 0, formats: new Map() };
      r.params += params(e);
      r.bytes += s.bytes;
      r.formats.set(s.label, (r.formats.get(s.label) ?? 0) + params(e));
      roles.set(e.role, r);
    }
    const totalParams = [...roles.values()].reduce((a, r) => a + r.params, 0);
    return {
      ...base,
      architecture: table.arch,
      layers: table.numLayers,
      params: totalParams,
      bits_per_weight: totalParams > 0 ? (ckpt.dataBytes * 8) / totalParams : null,
      roles: Object.fromEntries(
        ROLES.filter((r) => roles.has(r)).map((r) => {
          const s = roles.get(r)!;
          return [r, { params: s.params, bytes: s.bytes, bits_per_weight: (s.bytes * 8) / s.params, stored_as: Object.fromEntries(s.formats) }];
        }),
      ),
      missing_tensors: missing,
      int4_levels: int4Levels,
    };
  } finally {
    ckpt.close();
  }
}

function printInspect(info: Record<string, unknown>): void {
  const out: string[] = [];
  out.push(`${info.path}`);
  out.push(`  model_type ${String(info.model_type)}${info.architecture ? ` (${String(info.architecture)} architecture, ${String(info.layers)} layers)` : ''}`);
  out.push(`  ${String(info.tensors)} tensors in ${String(info.files)} file(s), ${humanBytes(info.bytes as number)}; dtypes ${Object.entries(info.dtypes as Record<string, number>).map(([d, n]) => `${d}×${n}`).join(' ')}`);
  const q = info.quantization as Record<string, unknown> | null;
  if (q && typeof q === 'object') {
    const overrides = Object.keys(q).filter((k) => typeof q[k] === 'object' && q[k] !== null).length;
    const desc = q.quant_method ? `${String(q.quant_method)}${q.format ? ` (${String(q.format)})` : ''}` : `affine ${String(q.bits)}-bit g${String(q.group_size)}${overrides ? `, ${overrides} per-module overrides` : ''}`;
    out.push(`  quantization: ${desc}`);
  } else {
    out.push('  quantization: none');
  }
  if (info.note) out.push(`  ${String(info.note)}`);
  const bad = info.nonfinite as Array<{ tensor: string; count: number }> | null;
  if (bad === null) out.push(`  ${String(info.nonfinite_note)}`);
  else if (bad.length > 0) out.push(`  NaN/Inf values in ${bad.length} tensor(s): ${bad.slice(0, 5).map((t) => `${t.tensor} (${t.count})`).join(', ')}${bad.length > 5 ? ', …' : ''}`);
  const roles = info.roles as Record<string, { params: number; bytes: number; bits_per_weight: number; stored_as: Record<string, number> }> | undefined;
  if (roles) {
    const bpw = info.bits_per_weight as number | null;
    out.push(`  params ${humanCount(info.params as number)}${bpw === null ? '' : `, ${bpw.toFixed(3)} bits per weight`}`);
    out.push('');
    out.push(`  ${'role'.padEnd(14)}${'params'.padStart(11)}${'size'.padStart(11)}${'bits/w'.padStart(8)}  stored as`);
    for (const [role, r] of Object.entries(roles)) {
      const formats = Object.entries(r.stored_as).sort((a, b) => b[1] - a[1]).map(([f]) => f).join(', ');
      out.push(`  ${role.padEnd(14)}${humanCount(r.params).padStart(11)}${humanBytes(r.bytes).padStart(11)}${r.bits_per_weight.toFixed(2).padStart(8)}  ${formats}`);
    }
    const levels = Object.entries(info.int4_levels as Record<string, number>);
    if (levels.length > 0) {
      const names: Record<string, string> = { 2: 'with ≤ 4 levels per group → exact', 3: 'with ≤ 8 levels per group → exact', 4: 'using up to 16 levels →' };
      out.push(`  INT4 weights: ${levels.sort().map(([k, n]) => `${n} ${names[k[0]!]} ${k}`).join('; ')}`);
    }
    const missing = info.missing_tensors as string[];
    if (missing.length > 0) out.push(`  missing ${missing.length} tensor(s) of the table, e.g. ${missing[0]}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show a checkpoint: architecture, tensor count, how each role is stored (dtype or bits), size, quantization config')
    .argument('<model>', 'model directory or HF cache id (ORG/NAME)')
    .option('--json', 'print one JSON object')
    .option('--scan-values', 'read every float tensor for NaN/Inf (default for checkpoints up to 4 GiB)')
    .option('--no-scan-values', 'do not read tensor values')
    .action((model: string, flags: { json?: boolean; scanValues?: boolean }) => {
      const info = inspectModel(model, flags.scanValues === undefined ? {} : { scanValues: flags.scanValues });
      if (flags.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      else printInspect(info);
    });
}

// How much each allocation unit (lib/quant/recipe.ts) costs under each storage option, as
// lib/quant/allocate.ts needs it. Two ways:
// - measured (small models): the unit alone quantized, everything else at the source
//   weights, KL(source ‖ that model) per position on held-out calibration windows;
// - proxy (any size): Σ imp·ΔW² / Σ imp·W² per module on a sample of its rows (imp = the
//   imatrix's mean x² per input column, or 1), summed over the unit, times the role's scale
//   (lib/quant/prior.ts), fitted against measured points by `fitRoleScales`.
import { logSumExp } from '../bench/logits.js';
import type { Ops, Weight } from '../backend/ops.js';
import { Checkpoint } from '../io/checkpoint.js';
import { roundingFor } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import { buildModel, checkForwardPass } from '../models/load.js';
import { loadWeights } from '../models/loadWeights.js';
import { tensorTable } from '../models/registry.js';
import type { Role } from '../models/table.js';
import { dequantize } from '../quant/affine.js';
import { openEntry } from '../quant/entrySource.js';
import type { ModulePlan } from '../quant/plan.js';
import type { Method } from '../quant/preset.js';
import { roleScale } from '../quant/prior.js';
import { runQuantizeJob } from '../quant/quantizeJob.js';
import { type AllocGroup, allocationGroups, optionKey, resolveSpec, type SensitivityTable, type StorageOption, STORAGE_OPTIONS } from '../quant/recipe.js';
import type { ColumnImportance, ImportanceByModule } from '../quant/stats.js';

const QUANT_OPTIONS = STORAGE_OPTIONS.filter((o): o is NonNullable<StorageOption> => o !== null);

export interface SensitivityProgress {
  done: number;
  total: number;
  unit: string;
}

export interface KlOptions {
  src: string;
  ops: Ops;
  /** Held-out calibration tokens (never evaluation text). */
  ids: readonly number[];
  seqLen: number;
  method: Method;
  /** A note for the table (the calibration file and its hash). */
  note: string;
  onProgress?: (p: SensitivityProgress) => void;
  signal?: AbortSignal;
  /** Measure only these units / options (tests; the table is then partial). */
  only?: { units?: string[]; options?: string[] };
}

/** A module's weight rows from the source (read expert by expert), rounded to the model dtype as the converter stores them. */
function sourceRows(ckpt: Checkpoint, m: ModulePlan, dtype: 'BF16' | 'F16' | 'F32', start: number, count: number): Float32Array {
  const e = m.entries.find((x) => x.kind !== 'bias')!;
  const rows = openEntry(ckpt, e);
  const vals = new Float32Array(count * rows.cols);
  for (let r = start; r < start + count;) {
    const n = Math.min(start + count - r, rows.partRows - (r % rows.partRows));
    vals.set(rows.readRows(r, n), (r - start) * rows.cols);
    r += n;
  }
  if (!rows.exactIn(dtype)) {
    const round = roundingFor(dtype);
    for (let i = 0; i < vals.length; i++) vals[i] = round(vals[i]!);
  }
  return vals;
}

function weightShape(m: ModulePlan): { name: string; shape: number[]; rows: number; cols: number } {
  const e = m.entries.find((x) => x.kind !== 'bias')!;
  const cols = e.shape[e.shape.length - 1]!;
  return { name: e.name, shape: e.shape, rows: e.shape.reduce((a, b) => a * b, 1) / cols, cols };
}

/** KL(P ‖ Q) per row, P given as log-probabilities, Q as logits; float64 sums. */
function meanKl(baseLogProbs: Float32Array, logits: Float32Array, rows: number, vocab: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const off = r * vocab;
    const lse = logSumExp(logits, r, vocab);
    let kl = 0;
    for (let i = 0; i < vocab; i++) {
      const lp = baseLogProbs[off + i]!;
      kl += Math.exp(lp) * (lp - (logits[off + i]! - lse));
    }
    total += Math.max(0, kl);
  }
  return total;
}

function toLogProbs(logits: Float32Array, rows: number, vocab: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < rows; r++) {
    const off = r * vocab;
    const lse = logSumExp(logits, r, vocab);
    for (let i = 0; i < vocab; i++) out[off + i] = logits[off + i]! - lse;
  }
  return out;
}

/** Windows of `seqLen` tokens (the last one may be shorter, at least 2 tokens). */
function windowsOf(ids: readonly number[], seqLen: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i + 1 < ids.length; i += seqLen) out.push(ids.slice(i, i + seqLen));
  return out;
}

/** Measured losses: each unit quantized alone under each option, KL against the source on `ids`. */
export async function measureKl(o: KlOptions): Promise<SensitivityTable> {
  const ckpt = Checkpoint.open(o.src);
  try {
    const where = `${ckpt.dir}/config.json`;
    const table = tensorTable(ckpt.config, where);
    checkForwardPass(table.modelType, where);
    const windows = windowsOf(o.ids, o.seqLen);
    if (windows.length === 0) throw new MlxkError('sensitivity: the held-out calibration text has fewer than 2 tokens', 'pass a longer --calib file');
    const groups = allocationGroups(table).filter((g) => !o.only?.units || o.only.units.includes(g.id));
    const options = QUANT_OPTIONS.filter((x) => !o.only?.options || o.only.options.includes(optionKey(x)));
    const weights = await loadWeights(ckpt, table, o.ops);
    const base = buildModel(o.ops, weights, ckpt.config, table.modelType, where);
    const vocab = base.info.vocabSize;
    const baseLogProbs = windows.map((w) => toLogProbs(o.ops.read(base.forward(w, base.newCache(), { allLogits: true })), w.length, vocab));
    const positions = windows.reduce((a, w) => a + w.length, 0);
    const total = groups.length * options.length;
    let done = 0;
    const out: SensitivityTable['groups'] = [];
    for (const g of groups) {
      const loss: Record<string, number> = {};
      // Modules whose resolved storage repeats (embed_q takes g32 under g64 and g128) are quantized once.
      const cache = new Map<string, Weight>();
      for (const opt of options) {
        if (o.signal?.aborted) throw new MlxkError('sensitivity: interrupted');
        o.onProgress?.({ done, total, unit: `${g.id} ${optionKey(opt)}` });
        const replace = new Map<string, Weight>();
        for (const m of g.modules) {
          const spec = resolveSpec(m, opt);
          if (!spec) continue;
          const key = `${m.module}/${spec.bits}/${spec.groupSize}`;
          let w = cache.get(key);
          if (!w) {
            const s = weightShape(m);
            const src = sourceRows(ckpt, m, table.dtype, 0, s.rows);
            const q = runQuantizeJob({ w: src, rows: s.rows, cols: s.cols, bits: spec.bits, groupSize: spec.groupSize, method: o.method, dtype: table.dtype });
            w = o.ops.dense(o.ops.constant(dequantize(q.words, q.scales, q.biases, s.rows, s.cols, spec.bits, spec.groupSize), s.shape));
            o.ops.evaluate(w);
            cache.set(key, w);
          }
          replace.set(weightShape(m).name, w);
        }
        const model = buildModel(o.ops, weights.withReplaced(replace), ckpt.config, table.modelType, where);
        let kl = 0;
        for (const [i, w] of windows.entries()) kl += meanKl(baseLogProbs[i]!, o.ops.read(model.forward(w, model.newCache(), { allLogits: true })), w.length, vocab);
        loss[optionKey(opt)] = kl / positions;
        done++;
        await o.ops.reclaim();
      }
      out.push({ id: g.id, loss });
      cache.clear();
      await o.ops.reclaim({ full: true });
    }
    o.onProgress?.({ done, total, unit: '' });
    return { format: 'mlxk-sensitivity', version: 1, model: o.src, modelType: table.modelType, source: 'kl', method: o.method, note: `${o.note}; ${positions} held-out positions in ${windows.length} windows`, groups: out };
  } finally {
    ckpt.close();
  }
}

/** Mean x² per input column of row `row` of a module, from its imatrix (the experts' mean where one saw no token). */
function columnWeights(imp: ColumnImportance | undefined, rows: number, row: number): Float32Array | null {
  if (!imp) return null;
  const slice = imp.slices === 1 ? 0 : Math.floor(row / (rows / imp.slices));
  const out = new Float32Array(imp.cols);
  const n = imp.tokens[slice]!;
  if (n > 0) {
    for (let j = 0; j < imp.cols; j++) out[j] = imp.sumSq[slice * imp.cols + j]! / n;
    return out;
  }
  const all = imp.tokens.reduce((a, b) => a + b, 0);
  for (let s = 0; s < imp.slices; s++) for (let j = 0; j < imp.cols; j++) out[j] += imp.sumSq[s * imp.cols + j]! / Math.max(all, 1);
  return out;
}

/** Rows sampled from a module: `blocks` evenly spaced runs, none crossing an expert boundary. */
function sampleRuns(rows: number, partRows: number, want: number, blocks = 8): { start: number; count: number }[] {
  if (rows <= want) return [{ start: 0, count: rows }];
  const per = Math.max(1, Math.floor(want / blocks));
  const runs: { start: number; count: number }[] = [];
  for (let k = 0; k < blocks; k++) {
    const start = Math.floor((k * rows) / blocks);
    runs.push({ start, count: Math.min(per, partRows - (start % partRows), rows - start) });
  }
  return runs;
}

export interface ProxyOptions {
  src: string;
  method: Method;
  importance?: ImportanceByModule;
  /** Rows sampled per module (all of a smaller one). */
  sampleRows?: number;
  /** Role scales; default the fitted ones in lib/quant/prior.ts. Pass 1s for the raw proxy. */
  scale?: (role: Role) => number;
  note?: string;
  onProgress?: (p: SensitivityProgress) => void;
}

/** Relative weighted error of one module under each option, on a sample of its rows. */
function moduleProxy(ckpt: Checkpoint, m: ModulePlan, dtype: 'BF16' | 'F16' | 'F32', o: ProxyOptions): Map<string, number> {
  const s = weightShape(m);
  const e = m.entries.find((x) => x.kind !== 'bias')!;
  const imp = o.importance?.get(m.module);
  if (imp && imp.cols !== s.cols) throw new MlxkError(`imatrix: "${m.module}" has ${imp.cols} input columns, the model's weight has ${s.cols}`, 'use an imatrix of this model');
  const runs = sampleRuns(s.rows, openEntry(ckpt, e).partRows, o.sampleRows ?? 256);
  const out = new Map<string, number>();
  const samples = runs.map((r) => ({ ...r, w: sourceRows(ckpt, m, dtype, r.start, r.count), cw: Array.from({ length: r.count }, (_, i) => columnWeights(imp, s.rows, r.start + i)) }));
  for (const opt of QUANT_OPTIONS) {
    const spec = resolveSpec(m, opt);
    const key = spec ? `${spec.bits}g${spec.groupSize}` : 'keep';
    if (out.has(key)) continue;
    let err = 0;
    let ref = 0;
    for (const r of samples) {
      const d = spec ? (() => {
        const q = runQuantizeJob({ w: r.w, rows: r.count, cols: s.cols, bits: spec.bits, groupSize: spec.groupSize, method: o.method, dtype });
        return dequantize(q.words, q.scales, q.biases, r.count, s.cols, spec.bits, spec.groupSize);
      })() : r.w;
      for (let i = 0; i < r.count; i++) {
        const cw = r.cw[i]!;
        for (let j = 0; j < s.cols; j++) {
          const x = r.w[i * s.cols + j]!;
          const c = cw ? cw[j]! : 1;
          err += c * (d[i * s.cols + j]! - x) ** 2;
          ref += c * x * x;
        }
      }
    }
    out.set(key, ref > 0 ? err / ref : 0);
  }
  return out;
}

/** Proxy losses for every unit and option (bounded work: `sampleRows` rows per module per option). */
export function proxyTable(o: ProxyOptions): SensitivityTable {
  const ckpt = Checkpoint.open(o.src);
  try {
    const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
    const groups = allocationGroups(table);
    const scale = o.scale ?? roleScale;
    const out: SensitivityTable['groups'] = [];
    groups.forEach((g: AllocGroup, i) => {
      o.onProgress?.({ done: i, total: groups.length, unit: g.id });
      const per = g.modules.map((m) => ({ m, r: moduleProxy(ckpt, m, table.dtype, o) }));
      const loss: Record<string, number> = {};
      for (const opt of QUANT_OPTIONS) {
        let sum = 0;
        for (const { m, r } of per) {
          const spec = resolveSpec(m, opt);
          if (spec) sum += r.get(`${spec.bits}g${spec.groupSize}`)!;
        }
        loss[optionKey(opt)] = scale(g.role) * sum;
      }
      out.push({ id: g.id, loss });
    });
    return {
      format: 'mlxk-sensitivity', version: 1, model: o.src, modelType: table.modelType, source: 'proxy', method: o.method,
      note: o.note ?? `Σ imp·ΔW²/Σ imp·W² on ≤ ${o.sampleRows ?? 256} rows per module (${o.importance ? 'imatrix weights' : 'no imatrix: equal weights'}) × per-role scale`,
      groups: out,
    };
  } finally {
    ckpt.close();
  }
}

/** Per role: the scale s minimising Σ (log KL − log(s·proxy))² over points with KL above `floor` (a geometric mean of the ratios). */
export function fitRoleScales(kl: SensitivityTable, rawProxy: SensitivityTable, roleOf: (id: string) => Role, floor = 1e-4): Map<Role, { scale: number; points: number; rmsLogError: number }> {
  const byRole = new Map<Role, number[]>();
  const proxy = new Map(rawProxy.groups.map((g) => [g.id, g.loss]));
  for (const g of kl.groups) {
    const p = proxy.get(g.id);
    if (!p) continue;
    for (const [k, v] of Object.entries(g.loss)) {
      const x = p[k];
      if (x === undefined || !(v > floor) || !(x > 0)) continue;
      const list = byRole.get(roleOf(g.id)) ?? [];
      list.push(Math.log(v / x));
      byRole.set(roleOf(g.id), list);
    }
  }
  const out = new Map<Role, { scale: number; points: number; rmsLogError: number }>();
  for (const [role, logs] of byRole) {
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    out.set(role, { scale: Math.exp(mean), points: logs.length, rmsLogError: Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / logs.length) });
  }
  return out;
}

// `mlxk quantize`: stream a source checkpoint into MLX format, module by
// module, in row chunks, with the quantization math on a worker pool. Peak
// memory is a few chunks regardless of model size. Output shards are complete
// files or absent (written as .partial, renamed when synced); a state file
// makes a re-run resume after the last finished shard; config.json is written
// last, so a directory with one is complete. The source is only ever read.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statfsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Checkpoint } from '../io/checkpoint.js';
import { DTYPE_BYTES, encodeFloats, roundingFor } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import { refuseNonFinite } from '../io/nonfinite.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { planShards, ShardWriter, type ShardPlan, writeFileAtomic, writeIndex } from '../io/safetensorsWriter.js';
import { tensorTable } from '../models/registry.js';
import type { TensorEntry } from '../models/table.js';
import { openEntry } from './entrySource.js';
import { conversionSettings, DONE_FILE, readDone, settingsDiff, writeDone } from './finished.js';
import { clearConversionFiles, copyModelFiles, outputConfig, STATE_FILE, writeConfig, writeModelCard } from './outputFiles.js';
import { type ModulePlan, type OutputTensor, planQuantization, type QuantPlan } from './plan.js';
import { importanceDigest, importanceRow, moduleImportance } from './importance.js';
import { entryLevelBits, remapInt4 } from './int4Levels.js';
import type { CalibrationReport, PrecomputedSource } from './precomputed.js';
import { CALIBRATED_METHODS, dataFreeMethod, type Preset, type QuantSpec, type Rule } from './preset.js';

import { checkSourceCoverage } from './sourceCoverage.js';
import type { ImportanceByModule } from './stats.js';
import { verifyOutput } from './verify.js';
import { WorkerPool } from './workerPool.js';
import { wmsePrior } from './wmse.js';

/** Values per chunk handed to a worker: 4M floats = 16 MB. */
const CHUNK_VALUES = 4 * 1024 * 1024;

export interface ConvertOptions {
  src: string;
  dst: string;
  preset: Preset;
  extraRules?: Rule[];
  force?: boolean;
  maxShardBytes?: number;
  threads?: number;
  onProgress?: (p: ConvertProgress) => void;
  /** Modules quantized elsewhere (GPTQ's calibration pass), and what identifies their inputs in the resume hash. */
  precomputed?: PrecomputedSource;
  precomputedId?: string;
  /** The calibration inputs by the flag that sets each, so a finished output with other ones is refused naming the flag. */
  calibrationSettings?: Record<string, unknown>;
  /** Extra lines for the model card (the calibration set and settings). */
  cardNotes?: string[];
  /** Input-column importance from calibration (an imatrix), for the weighted fitting methods. */
  importance?: ImportanceByModule;
  /** Quantize tensors holding NaN/Inf instead of refusing them (their error is then reported as null). */
  allowNonFinite?: boolean;
}

export interface ConvertProgress {
  modulesDone: number;
  modulesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  sourceBytesRead: number;
  current: string;
}

export interface TensorReport {
  name: string;
  bits: number | null;
  groupSize: number | null;
  method: string | null;
  /** ‖ŵ − w‖ / ‖w‖ against the (dequantized) source; 0 for a lossless INT4 remap, null when kept. */
  relRmsError: number | null;
  lossless: boolean;
  /** Modules quantized against calibration inputs: output errors of the kept result and of RTN / MSE. */
  calibration?: CalibrationReport;
}

export interface ConvertReport {
  src: string;
  dst: string;
  preset: string;
  modelType: string;
  shards: string[];
  resumedShards: number;
  params: number;
  bytes: number;
  bitsPerWeight: number;
  sourceBytesRead: number;
  seconds: number;
  peakRssBytes: number;
  tensors: TensorReport[];
  /** DST already held this conversion, finished with the same settings: nothing was written. */
  alreadyComplete: boolean;
}

interface Ctx {
  ckpt: Checkpoint;
  plan: QuantPlan;
  pool: WorkerPool;
  report: Map<string, TensorReport>;
  progress: ConvertProgress;
  onProgress: (() => void) | undefined;
  peakRss: number;
  precomputed: PrecomputedSource | undefined;
  importance: ConvertOptions['importance'];
  allowNonFinite: boolean;
}

function planHash(src: string, ckpt: Checkpoint, plan: QuantPlan, shards: ShardPlan[], extra: string): string {
  const h = createHash('sha256');
  h.update(extra);
  h.update(JSON.stringify({ src, files: ckpt.shardFiles.map((f) => [f, ckpt.tensors.size]) }));
  for (const t of plan.tensors) h.update(`${t.name}|${t.dtype}|${t.shape}|${t.quant ? `${t.quant.bits}/${t.quant.groupSize}/${t.quant.method}` : ''}\n`);
  for (const s of shards) h.update(`${s.file}:${s.tensors.length}\n`);
  return h.digest('hex');
}

function shardComplete(path: string, shard: ShardPlan): boolean {
  if (!existsSync(path)) return false;
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(path);
  } catch {
    return false;
  }
  try {
    if (f.tensors.size !== shard.tensors.length) return false;
    return shard.tensors.every((t) => {
      const got = f.tensors.get(t.name);
      return got !== undefined && got.dtype === t.dtype && got.shape.join(',') === t.shape.join(',');
    });
  } finally {
    f.close();
  }
}

/**
 * The report of the finished conversion already in `dst` when it was made with these settings and
 * its files are all there; null when there is none or a file is gone (the same settings then resume,
 * rewriting only what is missing). A finished conversion with other settings is refused by name.
 */
function finishedReport(dst: string, hash: string, settings: ReturnType<typeof conversionSettings>, shards: ShardPlan[]): ConvertReport | null {
  const rec = existsSync(dst) ? readDone<ConvertReport>(dst) : null;
  if (!rec) return null;
  if (rec.planHash !== hash) {
    const diff = settingsDiff(rec.settings, settings);
    throw new MlxkError(`${dst}: holds a finished conversion with different settings: ${diff.length ? diff.slice(0, 3).join('; ') : 'the same flags but another tensor plan (written by another mlxk version?)'}; pass --force to overwrite it, or choose a new directory`);
  }
  const complete = existsSync(join(dst, 'config.json')) && !existsSync(join(dst, STATE_FILE)) && shards.every((s) => shardComplete(join(dst, s.file), s));
  return complete ? rec.report : null;
}

function prepareDestination(src: string, dst: string, force: boolean, hash: string): void {
  mkdirSync(dst, { recursive: true });
  const statePath = join(dst, STATE_FILE);
  const state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as { planHash?: string }) : null;
  const nonEmpty = readdirSync(dst).length > 0;
  const sameFinished = readDone(dst)?.planHash === hash;
  if (force) clearConversionFiles(dst);
  else if (state && state.planHash !== hash) throw new MlxkError(`${dst}: holds an unfinished conversion with different settings`, 'use --force to discard it and start over');
  else if (!state && nonEmpty && !sameFinished) throw new MlxkError(`${dst}: is not empty`, 'choose a new directory, or pass --force to overwrite the model files in it');
  // Until the rewrite finishes, the directory must not claim to be complete.
  rmSync(join(dst, DONE_FILE), { force: true });
  writeFileAtomic(statePath, JSON.stringify({ tool: 'mlxk', planHash: hash, source: src, started: new Date().toISOString() }, null, 2));
}

export function checkFreeSpace(dst: string, needed: number): void {
  const fs = statfsSync(dst);
  const free = fs.bavail * fs.bsize;
  const margin = 64 * 2 ** 20;
  if (free < needed + margin) {
    throw new MlxkError(`${dst}: needs ${(needed / 1e9).toFixed(2)} GB free for the remaining shards, the disk has ${(free / 1e9).toFixed(2)} GB`, 'free space or choose another destination; finished shards are kept for a re-run');
  }
}

/**
 * compressed-tensors INT4 modules copied exactly instead of re-quantized: codes using at most 4
 * (8) levels per group become 2-bit (3-bit) MLX wherever the plan asked for at least that many
 * bits, and a 4-bit request keeps the source's larger group (w4a16 g128) rather than a smaller one.
 */
function planWithInt4Levels(ckpt: Checkpoint, plan: QuantPlan, extraRules: Rule[]): QuantPlan {
  const round = roundingFor(plan.table.dtype);
  const overrides = new Map<string, QuantSpec & { why: string }>();
  for (const m of plan.modules) {
    if (!m.quant) continue;
    const rows = openEntry(ckpt, m.entries.find((x) => x.kind !== 'bias')!);
    const gs = rows.int4GroupSize;
    if (gs === null || (m.quant.bits === 4 && gs === m.quant.groupSize)) continue;
    const bits = entryLevelBits(rows, round)!;
    // rtn: a remapped module is copied, never quantized (a calibrated method would re-quantize it).
    if (bits < 4 && bits <= m.quant.bits) overrides.set(m.module, { bits, groupSize: gs, method: 'rtn', why: `INT4 source with ≤ ${1 << bits} levels per group: exact ${bits}-bit g${gs}` });
    else if (bits === 4 && m.quant.bits === 4 && gs > m.quant.groupSize) overrides.set(m.module, { bits, groupSize: gs, method: 'rtn', why: `INT4 g${gs} source: exact 4-bit g${gs}` });
  }
  return overrides.size === 0 ? plan : planQuantization(plan.table, plan.preset, extraRules, overrides);
}

function noteRss(ctx: Ctx): void {
  ctx.peakRss = Math.max(ctx.peakRss, process.memoryUsage.rss());
}

async function writePlain(ctx: Ctx, w: ShardWriter, t: OutputTensor): Promise<void> {
  const rows = openEntry(ctx.ckpt, t.entry);
  const exact = rows.exactIn(t.dtype);
  const round = roundingFor(t.dtype);
  const step = Math.max(1, Math.min(rows.partRows, Math.floor(CHUNK_VALUES / Math.max(rows.cols, 1))));
  const rowBytes = rows.cols * DTYPE_BYTES[t.dtype];
  for (let start = 0, count = 0; start < rows.rows; start += count) {
    count = Math.min(step, rows.rows - start, rows.partRows - (start % rows.partRows));
    const vals = rows.readRows(start, count);
    if (!ctx.allowNonFinite) refuseNonFinite(ctx.ckpt.tensors.get(t.name)?.file ?? ctx.ckpt.dir, t.name, vals, rows.cols, start);
    if (!exact) for (let i = 0; i < vals.length; i++) vals[i] = round(vals[i]!);
    w.write(t.name, start * rowBytes, encodeFloats(t.dtype, vals));
    ctx.progress.sourceBytesRead += (rows.storedBytes * count) / rows.rows;
    ctx.progress.bytesDone += count * rowBytes;
    ctx.onProgress?.();
  }
  noteRss(ctx);
}

async function writeQuantized(ctx: Ctx, w: ShardWriter, m: ModulePlan, e: TensorEntry, q: QuantSpec): Promise<void> {
  const rows = openEntry(ctx.ckpt, e);
  const dtype = ctx.plan.table.dtype;
  const round = roundingFor(dtype);
  const exact = rows.exactIn(dtype);
  const groups = rows.cols / q.groupSize;
  const wordBytes = (rows.cols * q.bits) / 8;
  const scaleBytes = groups * DTYPE_BYTES[dtype];
  // compressed-tensors INT4 nibbles are MLX's 4-bit packing; fewer levels are remapped (int4Levels.ts).
  const lossless = rows.int4GroupSize === q.groupSize && (q.bits === 4 || m.overridden !== undefined);
  const imp = q.method === 'wmse' ? moduleImportance(ctx.importance, m.module, rows.rows, rows.cols) : null;
  // A job reads one imatrix row: chunks never cross an expert's rows.
  const sliceRows = imp ? rows.rows / imp.slices : rows.rows;
  const impRows = new Map<number, Float32Array | null>();
  const step = Math.max(1, Math.min(rows.partRows, sliceRows, Math.floor(CHUNK_VALUES / rows.cols)));
  let sqErr = 0;
  let sqRef = 0;
  const inFlight = new Set<Promise<void>>();
  const put = (start: number, count: number, words: Uint32Array, scales: Float32Array, biases: Float32Array) => {
    w.write(e.name, start * wordBytes, new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
    w.write(`${m.module}.scales`, start * scaleBytes, encodeFloats(dtype, scales));
    w.write(`${m.module}.biases`, start * scaleBytes, encodeFloats(dtype, biases));
    ctx.progress.bytesDone += count * (wordBytes + 2 * scaleBytes);
    ctx.onProgress?.();
  };
  for (let start = 0, count = 0; start < rows.rows; start += count) {
    count = Math.min(step, rows.rows - start, rows.partRows - (start % rows.partRows), sliceRows - (start % sliceRows));
    ctx.progress.sourceBytesRead += (rows.storedBytes * count) / rows.rows;
    if (lossless && q.bits < 4) {
      const { words, scales } = rows.readInt4Rows(start, count);
      const r = remapInt4(words, scales, count, rows.cols, q.groupSize, q.bits, round);
      put(start, count, r.words, r.scales, r.biases);
      continue;
    }
    if (lossless) {
      // w = s·(n − 8) = s·n + (−8s).
      const { words, scales } = rows.readInt4Rows(start, count);
      const s = scales.map(round);
      put(start, count, words, s, s.map((x) => round(-8 * x)));
      continue;
    }
    const vals = rows.readRows(start, count);
    if (!ctx.allowNonFinite) refuseNonFinite(ctx.ckpt.tensors.get(e.name)?.file ?? ctx.ckpt.dir, e.name, vals, rows.cols, start);
    if (!exact) for (let i = 0; i < vals.length; i++) vals[i] = round(vals[i]!);
    const slice = Math.floor(start / sliceRows);
    if (imp && !impRows.has(slice)) impRows.set(slice, importanceRow(imp, slice));
    const importance = imp ? impRows.get(slice)! : null;
    const job = ctx.pool.run({ w: vals, rows: count, cols: rows.cols, bits: q.bits, groupSize: q.groupSize, method: q.method, dtype, importance }).then((r) => {
      sqErr += r.sqErr;
      sqRef += r.sqRef;
      put(start, count, r.words, r.scales, r.biases);
    });
    const tracked: Promise<void> = job.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    noteRss(ctx);
    if (inFlight.size >= ctx.pool.size * 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  noteRss(ctx);
  ctx.report.set(e.name, { name: e.name, bits: q.bits, groupSize: q.groupSize, method: lossless ? 'int4-remap' : CALIBRATED_METHODS.includes(q.method) ? `${dataFreeMethod(q.method)} (no calibration inputs reach it)` : q.method === 'wmse' ? `wmse (${imp ? `imatrix × ${wmsePrior(true)} prior` : `no imatrix: ${wmsePrior()} prior`})` : q.method, relRmsError: lossless ? 0 : relError(sqErr, sqRef), lossless });
}

/** ‖ŵ − w‖ / ‖w‖; null when NaN/Inf made it meaningless (never 0 for an all-NaN tensor). */
function relError(sqErr: number, sqRef: number): number | null {
  if (!Number.isFinite(sqErr) || !Number.isFinite(sqRef)) return null;
  return sqRef > 0 ? Math.sqrt(sqErr / sqRef) : 0;
}

/** Rows produced by the calibration pass, copied into the shard. */
function writePrecomputed(ctx: Ctx, w: ShardWriter, m: ModulePlan, e: TensorEntry, q: QuantSpec): void {
  const src = ctx.precomputed!;
  const dtype = ctx.plan.table.dtype;
  const cols = e.shape[e.shape.length - 1]!;
  const rows = e.shape.reduce((a, b) => a * b, 1) / cols;
  const wordBytes = (cols * q.bits) / 8;
  const scaleBytes = (cols / q.groupSize) * DTYPE_BYTES[dtype];
  const step = Math.max(1, Math.floor(CHUNK_VALUES / cols));
  for (let start = 0; start < rows; start += step) {
    const count = Math.min(step, rows - start);
    const r = src.readRows(m.module, start, count);
    w.write(e.name, start * wordBytes, new Uint8Array(r.words.buffer, r.words.byteOffset, r.words.byteLength));
    w.write(`${m.module}.scales`, start * scaleBytes, encodeFloats(dtype, r.scales));
    w.write(`${m.module}.biases`, start * scaleBytes, encodeFloats(dtype, r.biases));
    ctx.progress.bytesDone += count * (wordBytes + 2 * scaleBytes);
    ctx.onProgress?.();
  }
  const calibration = src.report(m.module);
  ctx.report.set(e.name, { name: e.name, bits: q.bits, groupSize: q.groupSize, method: q.method, relRmsError: calibration.relRmsError, lossless: false, calibration });
  noteRss(ctx);
}

async function writeShard(ctx: Ctx, path: string, shard: ShardPlan, modules: ModulePlan[]): Promise<void> {
  const w = new ShardWriter(path, shard.tensors);
  try {
    for (const m of modules) {
      ctx.progress.current = m.module;
      for (const t of ctx.plan.tensors.filter((x) => x.entry.module === m.module)) {
        if (t.part === 'plain') {
          await writePlain(ctx, w, t);
          ctx.report.set(t.name, { name: t.name, bits: null, groupSize: null, method: null, relRmsError: null, lossless: false });
        } else if (t.part === 'weight') {
          if (await ctx.precomputed?.prepare(m.module)) writePrecomputed(ctx, w, m, t.entry, t.quant!);
          else await writeQuantized(ctx, w, m, t.entry, t.quant!);
        }
      }
      ctx.progress.modulesDone++;
      ctx.onProgress?.();
    }
    w.finish();
  } catch (e) {
    w.abort();
    throw e;
  }
}

export async function convert(opts: ConvertOptions): Promise<ConvertReport> {
  const started = Date.now();
  const src = resolve(opts.src);
  const dst = resolve(opts.dst);
  const ckpt = Checkpoint.open(src);
  let pool: WorkerPool | null = null;
  try {
    const table = tensorTable(ckpt.config, `${src}/config.json`);
    checkSourceCoverage(ckpt, table);
    const plan = planWithInt4Levels(ckpt, planQuantization(table, opts.preset, opts.extraRules ?? []), opts.extraRules ?? []);
    const modulesByName = new Map(plan.modules.map((m) => [m.module, m]));
    const groups = plan.modules.map((m) => plan.tensors.filter((t) => t.entry.module === m.module));
    const shards = planShards(groups, opts.maxShardBytes);
    const hash = planHash(src, ckpt, plan, shards, `${opts.precomputedId ?? ''}|${importanceDigest(opts.importance)}|${wmsePrior()}/${wmsePrior(true)}`);
    if (existsSync(dst) && realpathSync(dst) === realpathSync(src)) throw new MlxkError(`${dst}: is the source directory; mlxk never writes into the source`);
    const settings = conversionSettings(src, ckpt.shardFiles, plan, {
      calibration: opts.calibrationSettings ?? (opts.precomputedId ? { calibration: opts.precomputedId } : null),
      imatrix: importanceDigest(opts.importance),
      wmsePrior: `${wmsePrior()}/${wmsePrior(true)}`,
      shardSize: opts.maxShardBytes ?? null,
    });
    const finished = opts.force ? null : finishedReport(dst, hash, settings, shards);
    if (finished) return { ...finished, src, dst, sourceBytesRead: 0, seconds: (Date.now() - started) / 1000, peakRssBytes: process.memoryUsage.rss(), alreadyComplete: true };
    prepareDestination(src, dst, opts.force ?? false, hash);
    const done = shards.map((s) => shardComplete(join(dst, s.file), s));
    for (const name of readdirSync(dst)) if (name.endsWith('.partial')) rmSync(join(dst, name), { force: true });
    checkFreeSpace(dst, shards.reduce((a, s, i) => a + (done[i] ? 0 : s.bytes), 0));

    pool = new WorkerPool(opts.threads);
    const ctx: Ctx = {
      ckpt, plan, pool, report: new Map(), peakRss: process.memoryUsage.rss(), precomputed: opts.precomputed, importance: opts.importance, allowNonFinite: opts.allowNonFinite ?? false,
      progress: { modulesDone: 0, modulesTotal: plan.modules.length, bytesDone: 0, bytesTotal: plan.bytes, sourceBytesRead: 0, current: '' },
      onProgress: opts.onProgress ? () => opts.onProgress!(ctx.progress) : undefined,
    };
    for (let i = 0; i < shards.length; i++) {
      const shard = shards[i]!;
      const moduleNames = [...new Set(shard.tensors.map((t) => (t as OutputTensor).entry.module))];
      const modules = moduleNames.map((n) => modulesByName.get(n)!);
      if (done[i]) {
        ctx.progress.modulesDone += modules.length;
        ctx.progress.bytesDone += shard.bytes;
        ctx.onProgress?.();
        continue;
      }
      await writeShard(ctx, join(dst, shard.file), shard, modules);
      opts.precomputed?.written(moduleNames);
    }
    await pool.close();
    pool = null;

    writeIndex(dst, shards, plan.params);
    copyModelFiles(src, dst);
    writeModelCard(dst, { source: basename(src), preset: opts.preset.name, bitsPerWeight: (plan.bytes * 8) / plan.params, params: plan.params, bytes: plan.bytes, notes: opts.cardNotes });
    writeConfig(dst, outputConfig(ckpt.config, plan.quantizationConfig));
    verifyOutput(dst, plan);
    rmSync(join(dst, STATE_FILE), { force: true });

    const report: ConvertReport = {
      src, dst, preset: opts.preset.name, modelType: table.modelType,
      shards: shards.map((s) => s.file),
      resumedShards: done.filter(Boolean).length,
      params: plan.params,
      bytes: shards.reduce((a, s) => a + s.bytes, 0),
      bitsPerWeight: (plan.bytes * 8) / plan.params,
      sourceBytesRead: ctx.progress.sourceBytesRead,
      seconds: (Date.now() - started) / 1000,
      peakRssBytes: ctx.peakRss,
      tensors: plan.tensors.filter((t) => t.part !== 'scales' && t.part !== 'biases').map((t) => ctx.report.get(t.name) ?? { name: t.name, bits: t.quant?.bits ?? null, groupSize: t.quant?.groupSize ?? null, method: 'resumed', relRmsError: null, lossless: false }),
      alreadyComplete: false,
    };
    writeDone(dst, hash, settings, report);
    return report;
  } finally {
    await pool?.close();
    ckpt.close();
  }
}


// Writing one output shard of `mlxk quantize`: each tensor streamed from the source in row chunks
// (16 MB), kept tensors re-encoded, quantized ones fitted on the worker pool (several chunks in
// flight), compressed-tensors INT4 ones copied exactly, calibrated ones copied from the
// calibration pass; each tensor's error goes into the report.
import type { Checkpoint } from '../io/checkpoint.js';
import { DTYPE_BYTES, encodeFloats, roundingFor } from '../io/dtype.js';
import { refuseNonFinite } from '../io/nonfinite.js';
import { ShardWriter, type ShardPlan } from '../io/safetensorsWriter.js';
import type { TensorEntry } from '../models/table.js';
import type { ConvertOptions, ConvertProgress, TensorReport } from './convert.js';
import { openEntry } from './entrySource.js';
import { importanceRow, moduleImportance } from './importance.js';
import { remapInt4 } from './int4Levels.js';
import type { ModulePlan, OutputTensor, QuantPlan } from './plan.js';
import type { PrecomputedSource } from './precomputed.js';
import { CALIBRATED_METHODS, dataFreeMethod, type QuantSpec } from './preset.js';
import type { WorkerPool } from './workerPool.js';
import { wmsePrior } from './wmse.js';

/** Values per chunk handed to a worker: 4M floats = 16 MB. */
const CHUNK_VALUES = 4 * 1024 * 1024;

/** What writing the shards shares: the source, the plan, the worker pool, and the report and progress it fills in. */
export interface WriteContext {
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

function noteRss(ctx: WriteContext): void {
  ctx.peakRss = Math.max(ctx.peakRss, process.memoryUsage.rss());
}

async function writePlain(ctx: WriteContext, w: ShardWriter, t: OutputTensor): Promise<void> {
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

async function writeQuantized(ctx: WriteContext, w: ShardWriter, m: ModulePlan, e: TensorEntry, q: QuantSpec): Promise<void> {
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
function writePrecomputed(ctx: WriteContext, w: ShardWriter, m: ModulePlan, e: TensorEntry, q: QuantSpec): void {
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

export async function writeShard(ctx: WriteContext, path: string, shard: ShardPlan, modules: ModulePlan[]): Promise<void> {
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

// `mlxk quantize`: stream a source checkpoint into MLX format, module by
// module, in row chunks, with the quantization math on a worker pool. Peak
// memory is a few chunks regardless of model size. Output shards are complete
// files or absent (written as .partial, renamed when synced); a state file
// makes a re-run resume after the last finished shard; config.json is written
// last, so a directory with one is complete. The source is only ever read.
// The output directory's state is destination.ts; writing a shard is writeShard.ts.
import { existsSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Checkpoint } from '../io/checkpoint.js';
import { roundingFor } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import { planShards, writeIndex } from '../io/safetensorsWriter.js';
import { tensorTable } from '../models/registry.js';
import { checkFreeSpace, finishedReport, planHash, prepareDestination, shardComplete } from './destination.js';
import { openEntry } from './entrySource.js';
import { conversionSettings, writeDone } from './finished.js';
import { copyModelFiles, outputConfig, STATE_FILE, writeConfig, writeModelCard } from './outputFiles.js';
import { type OutputTensor, planQuantization, type QuantPlan } from './plan.js';
import { importanceDigest } from './importance.js';
import { entryLevelBits } from './int4Levels.js';
import type { CalibrationReport, PrecomputedSource } from './precomputed.js';
import type { Preset, QuantSpec, Rule } from './preset.js';
import { checkSourceCoverage } from './sourceCoverage.js';
import type { ImportanceByModule } from './stats.js';
import { verifyOutput } from './verify.js';
import { WorkerPool } from './workerPool.js';
import { wmsePrior } from './wmse.js';
import { type WriteContext, writeShard } from './writeShard.js';
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
  /** The flags that chose the recipe (--target-bpw and the sensitivity inputs), recorded so a re-run can find the finished output before measuring again. */
  allocationSettings?: Record<string, unknown>;
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

interface Conversion {
  src: string;
  dst: string;
  table: ReturnType<typeof tensorTable>;
  plan: QuantPlan;
  shards: ReturnType<typeof planShards>;
  hash: string;
  settings: ReturnType<typeof conversionSettings>;
}

/** The plan, shards, resume hash and readable settings of converting with `opts`; nothing is written. */
function planConversion(opts: ConvertOptions, ckpt: Checkpoint): Conversion {
  const src = resolve(opts.src);
  const dst = resolve(opts.dst);
  const table = tensorTable(ckpt.config, `${src}/config.json`);
  checkSourceCoverage(ckpt, table);
  const plan = planWithInt4Levels(ckpt, planQuantization(table, opts.preset, opts.extraRules ?? []), opts.extraRules ?? []);
  const groups = plan.modules.map((m) => plan.tensors.filter((t) => t.entry.module === m.module));
  const shards = planShards(groups, opts.maxShardBytes);
  const hash = planHash(src, ckpt, plan, shards, `${opts.precomputedId ?? ''}|${importanceDigest(opts.importance)}|${wmsePrior()}/${wmsePrior(true)}`);
  if (existsSync(dst) && realpathSync(dst) === realpathSync(src)) throw new MlxkError(`${dst}: is the source directory; mlxk never writes into the source`);
  const settings = conversionSettings(src, ckpt.shardFiles, plan, {
    calibration: opts.calibrationSettings ?? (opts.precomputedId ? { calibration: opts.precomputedId } : null),
    imatrix: importanceDigest(opts.importance),
    wmsePrior: `${wmsePrior()}/${wmsePrior(true)}`,
    shardSize: opts.maxShardBytes ?? null,
    allocation: opts.allocationSettings ?? null,
  });
  return { src, dst, table, plan, shards, hash, settings };
}

/**
 * The report of the conversion `opts` asks for when DST already holds it, finished and complete;
 * null otherwise (nothing is written either way). A finished one with other settings is refused.
 */
export function finishedConversion(opts: ConvertOptions): ConvertReport | null {
  const started = Date.now();
  const ckpt = Checkpoint.open(resolve(opts.src));
  try {
    const c = planConversion(opts, ckpt);
    const finished = opts.force ? null : finishedReport(c.dst, c.hash, c.settings, c.shards);
    return finished && { ...finished, src: c.src, dst: c.dst, sourceBytesRead: 0, seconds: (Date.now() - started) / 1000, peakRssBytes: process.memoryUsage.rss(), alreadyComplete: true };
  } finally {
    ckpt.close();
  }
}

export async function convert(opts: ConvertOptions): Promise<ConvertReport> {
  const started = Date.now();
  const ckpt = Checkpoint.open(resolve(opts.src));
  let pool: WorkerPool | null = null;
  try {
    const { src, dst, table, plan, shards, hash, settings } = planConversion(opts, ckpt);
    const modulesByName = new Map(plan.modules.map((m) => [m.module, m]));
    const finished = opts.force ? null : finishedReport(dst, hash, settings, shards);
    if (finished) return { ...finished, src, dst, sourceBytesRead: 0, seconds: (Date.now() - started) / 1000, peakRssBytes: process.memoryUsage.rss(), alreadyComplete: true };
    prepareDestination(src, dst, opts.force ?? false, hash);
    const done = shards.map((s) => shardComplete(join(dst, s.file), s));
    for (const name of readdirSync(dst)) if (name.endsWith('.partial')) rmSync(join(dst, name), { force: true });
    checkFreeSpace(dst, shards.reduce((a, s, i) => a + (done[i] ? 0 : s.bytes), 0));

    pool = new WorkerPool(opts.threads);
    const ctx: WriteContext = {
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


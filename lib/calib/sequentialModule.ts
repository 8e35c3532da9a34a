// One block's modules as the calibration pass sees them: the weights its forward pass
// uses (quantized exactly as the converter will store them, so the next block sees the
// quantized model's activations) and, for modules quantized against calibration inputs,
// the GPTQ / learned-rounding result written into the block's file for the converter.
import type { Checkpoint } from '../io/checkpoint.js';
import { roundingFor } from '../io/dtype.js';
import { ShardWriter } from '../io/safetensorsWriter.js';
import type { TensorEntry } from '../models/table.js';
import { dequantize } from '../quant/affine.js';
import { openEntry } from '../quant/entrySource.js';
import type { HessianFactor } from '../quant/gptq.js';
import { factor, type GuardedResult, objective, quantizeGuarded } from '../quant/gptqJob.js';
import type { ModulePlan, QuantPlan } from '../quant/plan.js';
import type { CalibrationReport } from '../quant/precomputed.js';
import { CALIBRATED_METHODS } from '../quant/preset.js';
import { runQuantizeJob } from '../quant/quantizeJob.js';

export interface GptqSettings {
  damp: number;
  actOrder: boolean;
  /** Rounds of learned rounding for modules with method "learned". */
  iters: number;
}

/** Values per GPTQ call: rows of a big matrix (lm_head) go in chunks sharing one factor. */
const CHUNK_VALUES = 16 * 1024 * 1024;

export function isCalibrated(m: ModulePlan): boolean {
  return m.quant !== null && CALIBRATED_METHODS.includes(m.quant.method);
}

/** The file a block's calibrated modules are written to: `M.weight` U32, `M.scales` / `M.biases` F32 (exact stored values). */
export function blockTensors(modules: ModulePlan[]): { name: string; dtype: 'U32' | 'F32'; shape: number[] }[] {
  return modules.flatMap((m) => {
    const e = m.entries.find((x) => x.kind !== 'bias')!;
    const cols = e.shape[e.shape.length - 1]!;
    const rows = e.shape.reduce((a, b) => a * b, 1) / cols;
    const q = m.quant!;
    return [
      { name: `${m.module}.weight`, dtype: 'U32' as const, shape: [rows, (cols * q.bits) / 32] },
      { name: `${m.module}.scales`, dtype: 'F32' as const, shape: [rows, cols / q.groupSize] },
      { name: `${m.module}.biases`, dtype: 'F32' as const, shape: [rows, cols / q.groupSize] },
    ];
  });
}

function emptyReport(): CalibrationReport {
  return { kept: {}, outputError: 0, rtnOutputError: 0, mseOutputError: 0, outputEnergy: 0, fallbackSlices: 0, tokens: 0, deadColumns: 0, dampRaised: 0, relRmsError: 0 };
}

/** A Hessian for one slice (a linear, one expert, one head) with the tokens behind it. */
export interface SliceHessian {
  h: Float64Array;
  tokens: number;
  /** True when no calibration token reached the slice and a shared Hessian stands in. */
  fallback: boolean;
}

export class BlockModules {
  readonly reports = new Map<string, CalibrationReport & { sqErr: number; sqRef: number }>();
  private readonly factors = new WeakMap<Float64Array, HessianFactor>();

  constructor(private readonly ckpt: Checkpoint, private readonly plan: QuantPlan, private readonly settings: GptqSettings, private readonly sink: ShardWriter | null) {}

  module(name: string): ModulePlan {
    const m = this.plan.modules.find((x) => x.module === name);
    if (!m) throw new Error(`calibration: module "${name}" is not in the plan (the tensor table and the block runner disagree)`);
    return m;
  }

  private entry(m: ModulePlan): TensorEntry {
    return m.entries.find((e) => e.kind !== 'bias')!;
  }

  /** Rows [start, start+count) of a module's weight from the source, rounded to the model dtype as the converter rounds them. */
  sourceRows(m: ModulePlan, start: number, count: number): Float32Array {
    const rows = openEntry(this.ckpt, this.entry(m));
    const vals = rows.readRows(start, count);
    if (!rows.exactIn(this.plan.table.dtype)) {
      const round = roundingFor(this.plan.table.dtype);
      for (let i = 0; i < vals.length; i++) vals[i] = round(vals[i]!);
    }
    return vals;
  }

  /** A tensor kept in its dtype (norms, router) read whole from the source, rounded as the converter stores it. */
  tensor(name: string): Float32Array {
    const e = this.plan.table.entries.find((x) => x.name === name);
    if (!e) throw new Error(`calibration: tensor "${name}" is not in the ${this.plan.table.modelType} table`);
    const rows = openEntry(this.ckpt, e);
    const vals = rows.readRows(0, rows.rows);
    const dtype = e.keepDtype ?? this.plan.table.dtype;
    if (!rows.exactIn(dtype)) {
      const round = roundingFor(dtype);
      for (let i = 0; i < vals.length; i++) vals[i] = round(vals[i]!);
    }
    return vals;
  }

  /**
   * The weights of slice `slice` (rows [slice·rows, (slice+1)·rows)) as the converted model will
   * hold them, dequantized to float32: GPTQ / learned against `hessian` for calibrated modules
   * (written to the block file), the module's data-free method otherwise, the source when kept.
   */
  weights(name: string, slice: number, rows: number, hessian: SliceHessian | null, keep = true): Float32Array {
    const m = this.module(name);
    const e = this.entry(m);
    const cols = e.shape[e.shape.length - 1]!;
    const start = slice * rows;
    const out = new Float32Array(keep ? rows * cols : 0);
    const step = Math.max(1, Math.min(rows, Math.floor(CHUNK_VALUES / cols)));
    for (let r0 = 0; r0 < rows; r0 += step) {
      const count = Math.min(step, rows - r0);
      const w = this.sourceRows(m, start + r0, count);
      if (!m.quant) {
        if (keep) out.set(w, r0 * cols);
        continue;
      }
      const q = m.quant;
      if (!isCalibrated(m) || !hessian) {
        // Data-free (a calibrated method falls back to mse where no inputs reach, as the converter does).
        const r = runQuantizeJob({ w, rows: count, cols, bits: q.bits, groupSize: q.groupSize, method: q.method, dtype: this.plan.table.dtype });
        if (keep) out.set(dequantize(r.words, r.scales, r.biases, count, cols, q.bits, q.groupSize), r0 * cols);
        continue;
      }
      const h = hessian;
      let f = this.factors.get(h.h);
      if (!f) {
        f = factor(h.h, cols, { damp: this.settings.damp, actOrder: this.settings.actOrder, dtype: this.plan.table.dtype });
        this.factors.set(h.h, f);
      }
      const opts = { bits: q.bits, groupSize: q.groupSize, dtype: this.plan.table.dtype, method: q.method as 'gptq' | 'learned', damp: this.settings.damp, actOrder: this.settings.actOrder, iters: this.settings.iters };
      const res = quantizeGuarded(w, count, cols, h.h, f, opts);
      this.record(m, res, w, count, cols, h, f, r0 === 0);
      this.put(m, start + r0, cols, res);
      if (keep) out.set(dequantize(res.words, res.scales, res.biases, count, cols, q.bits, q.groupSize), r0 * cols);
    }
    return out;
  }

  private record(m: ModulePlan, res: GuardedResult, w: Float32Array, rows: number, cols: number, h: SliceHessian, f: HessianFactor, firstChunk: boolean): void {
    const rep = this.reports.get(m.module) ?? { ...emptyReport(), sqErr: 0, sqRef: 0 };
    rep.kept[res.kept] = (rep.kept[res.kept] ?? 0) + (firstChunk ? 1 : 0);
    rep.outputError += res.error;
    rep.rtnOutputError += res.rtnError;
    rep.mseOutputError += res.mseError;
    const zero = { codes: new Uint8Array(rows * cols), words: new Uint32Array(0), scales: new Float32Array(rows * (cols / m.quant!.groupSize)), biases: new Float32Array(rows * (cols / m.quant!.groupSize)) };
    rep.outputEnergy += objective(w, rows, cols, zero, m.quant!.groupSize, h.h, this.plan.table.dtype);
    if (firstChunk) {
      rep.tokens += h.tokens;
      rep.fallbackSlices += h.fallback ? 1 : 0;
      rep.deadColumns += f.deadColumns;
      rep.dampRaised += f.dampRaised > 0 ? 1 : 0;
    }
    rep.sqErr += res.sqErr;
    rep.sqRef += res.sqRef;
    rep.relRmsError = rep.sqRef > 0 ? Math.sqrt(rep.sqErr / rep.sqRef) : 0;
    this.reports.set(m.module, rep);
  }

  private put(m: ModulePlan, start: number, cols: number, r: GuardedResult): void {
    if (!this.sink) return;
    const q = m.quant!;
    const wordBytes = (cols * q.bits) / 8;
    const groupBytes = (cols / q.groupSize) * 4;
    const bytes = (a: Uint32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    this.sink.write(`${m.module}.weight`, start * wordBytes, bytes(r.words));
    this.sink.write(`${m.module}.scales`, start * groupBytes, bytes(r.scales));
    this.sink.write(`${m.module}.biases`, start * groupBytes, bytes(r.biases));
  }
}

// Random-weight checkpoints of any architecture and size, written in Hugging
// Face layout (per-expert tensors, kv_b_proj) from the tensor table, in any
// source format mlxk reads: plain float, FP8 with 128×128 block scales
// (DeepSeek-V3/Kimi-K2 releases), compressed-tensors INT4 on routed experts
// (Kimi-K2.5 release) or NVFP4 on routed experts. Streams tensor by tensor.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../io/checkpoint.js';
import { DTYPE_BYTES, type DType, encodeFloats, roundingFor } from '../io/dtype.js';
import { MlxkError } from '../io/errors.js';
import { tensorBytes } from '../io/safetensors.js';
import { type PlannedTensor, planShards, ShardWriter, writeFileAtomic, writeIndex } from '../io/safetensorsWriter.js';
import { encodeInt4, encodeNvfp4 } from '../io/sources/compressedTensors.js';
import { encodeFp8Block } from '../io/sources/fp8Block.js';
import { tensorTable } from './registry.js';
import type { ModelTable, Role, TensorEntry } from './table.js';

export type SynthFormat = 'float' | 'fp8' | 'int4' | 'nvfp4';

export interface SynthOptions {
  config: JsonObject;
  out: string;
  format?: SynthFormat;
  seed?: number;
  /** Standard deviation of linear weights. */
  std?: number;
  maxShardBytes?: number;
  /** format int4: group size (32, as Kimi-K2.5, or 128, as GPTQ w4a16 releases and GSQ) and codes per group (16, or 4 / 8 as GSQ's 2-bit in the 4-bit box). */
  int4?: { groupSize: number; levels: number };
  onProgress?: (done: number, total: number) => void;
}

/** One tensor of the source layout and how to fill it. */
interface SourceTensor {
  name: string;
  shape: number[];
  dtype: DType;
  role: Role;
  fill: 'normal' | 'norm' | 'bias';
  /** Quantized encodings this logical weight is stored in. */
  encode: SynthFormat;
  int4: { groupSize: number; levels: number };
}

/** xoshiro128** (Blackman & Vigna): fast 32-bit seedable generator for test weights. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    // splitmix32 spreads the seed over the four state words.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }
  private static unit(std: number): number {
    return std / Math.sqrt((4 * (256 * 256 - 1)) / 12);
  }
  /** The largest |value| fillNormal can produce. */
  static maxAbs(std: number): number {
    return 510 * Rng.unit(std);
  }
  nextU32(): number {
    const r = Math.imul(((Math.imul(this.b, 5) << 7) | (Math.imul(this.b, 5) >>> 25)), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return r;
  }
  /**
   * Approximately normal values (sum of the four bytes of one draw: Irwin–Hall,
   * 1021 levels), mean 0 and standard deviation `std`.
   */
  fillNormal(out: Float32Array, std: number): void {
    const k = Rng.unit(std);
    for (let i = 0; i < out.length; i++) {
      const r = this.nextU32();
      out[i] = ((r & 255) + ((r >>> 8) & 255) + ((r >>> 16) & 255) + (r >>> 24) - 510) * k;
    }
  }
}

function sourceTensors(table: ModelTable, format: SynthFormat, int4: { groupSize: number; levels: number }): SourceTensor[] {
  const out: SourceTensor[] = [];
  const seen = new Set<string>();
  const add = (e: TensorEntry, name: string, shape: number[]) => {
    if (seen.has(name)) return;
    seen.add(name);
    const isLinear = e.kind === 'linear' || e.kind === 'switch_linear' || e.kind === 'multi_linear';
    let encode: SynthFormat = 'float';
    if (isLinear && e.role !== 'router' && shape.length === 2) {
      if (format === 'fp8' && e.role !== 'embed' && e.role !== 'lm_head' && e.role !== 'vision') encode = 'fp8';
      if ((format === 'int4' || format === 'nvfp4') && e.role === 'expert') encode = format;
    }
    const fill = e.kind === 'norm' ? 'norm' : e.name.endsWith('e_score_correction_bias') || e.kind === 'bias' ? 'bias' : 'normal';
    out.push({ name, shape, dtype: e.keepDtype ?? table.dtype, role: e.role, fill, encode, int4 });
  };
  for (const e of table.entries) {
    const s = e.source;
    if (s.kind === 'tensor') add(e, s.name, e.shape);
    else if (s.kind === 'stack') for (const n of s.names) add(e, n, e.shape.slice(1));
    else add(e, s.name, [s.heads * (s.nope + s.v), s.rank]);
  }
  return out;
}

/** The stored tensors of one logical source tensor in its encoding. */
function storedTensors(t: SourceTensor): PlannedTensor[] {
  const base = t.name.slice(0, -'.weight'.length);
  const [rows, cols] = [t.shape[0]!, t.shape[1]!];
  switch (t.encode) {
    case 'float':
      return [{ name: t.name, dtype: t.dtype, shape: t.shape }];
    case 'fp8':
      return [{ name: t.name, dtype: 'F8_E4M3', shape: t.shape }, { name: `${base}.weight_scale_inv`, dtype: 'F32', shape: [Math.ceil(rows / 128), Math.ceil(cols / 128)] }];
    case 'int4':
      return [{ name: `${base}.weight_packed`, dtype: 'I32', shape: [rows, cols / 8] }, { name: `${base}.weight_scale`, dtype: t.dtype, shape: [rows, cols / t.int4.groupSize] }, { name: `${base}.weight_shape`, dtype: 'I32', shape: [2] }];
    case 'nvfp4':
      return [{ name: `${base}.weight_packed`, dtype: 'U8', shape: [rows, cols / 2] }, { name: `${base}.weight_scale`, dtype: 'F8_E4M3', shape: [rows, cols / 16] }, { name: `${base}.weight_global_scale`, dtype: 'F32', shape: [1] }];
  }
}

/** Rows per chunk: about 4M values, a multiple of the 128-row FP8 block. */
function chunkRows(cols: number): number {
  return Math.max(128, Math.floor((4 * 1024 * 1024) / Math.max(cols, 1) / 128) * 128);
}

function writeTensor(w: ShardWriter, t: SourceTensor, rng: Rng, std: number): void {
  const base = t.name.slice(0, -'.weight'.length);
  const cols = t.shape[t.shape.length - 1] ?? 1;
  const rows = t.shape.reduce((a, b) => a * b, 1) / Math.max(cols, 1);
  const step = chunkRows(cols);
  const round = roundingFor(t.dtype === 'F32' ? 'F32' : t.dtype === 'F16' ? 'F16' : 'BF16');
  if (t.encode === 'int4') w.write(`${base}.weight_shape`, 0, new Uint8Array(new Int32Array([rows, cols]).buffer));
  for (let start = 0; start < rows; start += step) {
    const count = Math.min(step, rows - start);
    const vals = new Float32Array(count * cols);
    if (t.fill === 'norm') {
      rng.fillNormal(vals, 0.05);
      for (let i = 0; i < vals.length; i++) vals[i] = 1 + vals[i]!;
    } else {
      rng.fillNormal(vals, t.fill === 'bias' ? 0.01 : std);
    }
    if (t.encode === 'float') {
      w.write(t.name, start * cols * DTYPE_BYTES[t.dtype], encodeFloats(t.dtype, vals));
    } else if (t.encode === 'fp8') {
      const { weight, scaleInv } = encodeFp8Block(vals, count, cols);
      w.write(t.name, start * cols, weight);
      w.write(`${base}.weight_scale_inv`, (start / 128) * Math.ceil(cols / 128) * 4, new Uint8Array(scaleInv.buffer));
    } else if (t.encode === 'int4') {
      const { packed, scales } = encodeInt4(vals, count, cols, t.int4.groupSize, round, t.int4.levels);
      w.write(`${base}.weight_packed`, (start * cols) / 2, packed);
      w.write(`${base}.weight_scale`, (start * cols) / t.int4.groupSize * DTYPE_BYTES[t.dtype], encodeFloats(t.dtype, scales));
    } else {
      const { packed, scales, globalScale } = encodeNvfp4(vals, count, cols, Rng.maxAbs(std));
      w.write(`${base}.weight_packed`, (start * cols) / 2, packed);
      w.write(`${base}.weight_scale`, (start * cols) / 16, scales);
      if (start === 0) w.write(`${base}.weight_global_scale`, 0, new Uint8Array(new Float32Array([globalScale]).buffer));
    }
  }
}

function sourceQuantizationConfig(format: SynthFormat, int4Group: number): JsonObject | null {
  if (format === 'fp8') return { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] };
  if (format === 'int4' || format === 'nvfp4') {
    const weights = format === 'int4'
      ? { num_bits: 4, type: 'int', symmetric: true, strategy: 'group', group_size: int4Group, dynamic: false }
      : { num_bits: 4, type: 'float', symmetric: true, strategy: 'tensor_group', group_size: 16, dynamic: false };
    return { quant_method: 'compressed-tensors', format: format === 'int4' ? 'pack-quantized' : 'nvfp4-pack-quantized', config_groups: { group_0: { targets: ['Linear'], weights } }, ignore: ['lm_head', 're:.*self_attn.*', 're:.*shared_experts.*', 're:.*mlp\\.(gate|up|down)_proj.*'], quantization_status: 'compressed' };
  }
  return null;
}

export interface SynthReport {
  out: string;
  tensors: number;
  bytes: number;
  params: number;
  files: string[];
}

export function synthesize(opts: SynthOptions): SynthReport {
  const format = opts.format ?? 'float';
  const table = tensorTable(opts.config, 'synth config');
  const int4 = opts.int4 ?? { groupSize: 32, levels: 16 };
  if (![32, 128].includes(int4.groupSize) || ![4, 8, 16].includes(int4.levels)) throw new MlxkError(`synth: INT4 group ${int4.groupSize} with ${int4.levels} levels is not supported (group 32 or 128; 4, 8 or 16 levels)`);
  const sources = sourceTensors(table, format, int4);
  for (const t of sources) {
    if (t.encode === 'fp8' || t.encode === 'float') continue;
    const cols = t.shape[1]!;
    const need = t.encode === 'int4' ? int4.groupSize : 16;
    if (cols % need !== 0) throw new MlxkError(`synth: ${t.name} has ${cols} input columns, not a multiple of ${need} as ${t.encode} needs`);
  }
  mkdirSync(opts.out, { recursive: true });
  const groups = sources.map(storedTensors);
  const shards = planShards(groups, opts.maxShardBytes);
  const byName = new Map(sources.map((s) => [storedTensors(s)[0]!.name, s]));
  const rng = new Rng(opts.seed ?? 0);
  const std = opts.std ?? 0.02;
  const total = shards.reduce((a, s) => a + s.bytes, 0);
  let done = 0;
  for (const shard of shards) {
    const w = new ShardWriter(join(opts.out, shard.file), shard.tensors);
    try {
      for (const t of shard.tensors) {
        const src = byName.get(t.name);
        if (!src) continue;
        writeTensor(w, src, rng, std);
        done += storedTensors(src).reduce((a, x) => a + tensorBytes(x.dtype, x.shape), 0);
        opts.onProgress?.(done, total);
      }
      w.finish();
    } catch (e) {
      w.abort();
      throw e;
    }
  }
  const params = table.entries.reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  writeIndex(opts.out, shards, params);
  const config = { ...opts.config };
  const qc = sourceQuantizationConfig(format, int4.groupSize);
  if (qc) config.quantization_config = qc;
  writeFileAtomic(join(opts.out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return { out: opts.out, tensors: shards.reduce((a, s) => a + s.tensors.length, 0), bytes: total, params, files: shards.map((s) => s.file) };
}

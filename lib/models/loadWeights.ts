// Loads a checkpoint's weights onto a backend, driven by the architecture's tensor
// table, for three kinds of checkpoint:
// - MLX format (mlxk quantize output, mlx-lm): tensors carry the table's names; a module
//   is quantized iff `<module>.scales` exists (mlx_lm/utils.py load_model), its bits and
//   group size follow from the packed shapes and must agree with config `quantization`
//   (per-module override, else global; group_size null → 64; mode missing → affine);
// - Hugging Face float checkpoints: tensors come from each entry's `source` (one tensor,
//   per-expert tensors stacked, kv_b_proj split per head), assembled here once for all
//   architectures;
// - any mix of the two (a table entry found under its own name wins).
import type { Ops, Tensor, Weight } from '../backend/ops.js';
import type { Checkpoint, JsonObject } from '../io/checkpoint.js';
import { FLOAT_DTYPES } from '../io/dtype.js';
import { CheckpointError, MlxkError } from '../io/errors.js';
import { ModelWeights } from './model.js';
import { type ModelTable, QUANTIZABLE_KINDS, type Source, type TensorEntry } from './table.js';

const FLOAT_STORAGE = new Set(['F32', 'F16', 'BF16']);

interface QuantSettings {
  bits?: number;
  groupSize?: number;
  mode: string;
}

/** config.json `quantization` (or `quantization_config`, also under text_config); null when absent. */
export function quantizationConfig(cfg: JsonObject): JsonObject | null {
  const text = (cfg.text_config ?? {}) as JsonObject;
  const q = cfg.quantization ?? cfg.quantization_config ?? text.quantization ?? text.quantization_config;
  return q && typeof q === 'object' && !Array.isArray(q) ? (q as JsonObject) : null;
}

function settingsFor(q: JsonObject | null, module: string, where: string): QuantSettings {
  if (!q) return { mode: 'affine' };
  const override = q[module];
  if (override === false) throw new MlxkError(`${where}: is stored quantized, but config.json quantization marks it unquantized (false)`);
  const o = override && typeof override === 'object' ? (override as JsonObject) : {};
  const pick = (key: string) => (o[key] !== undefined ? o[key] : q[key]);
  const bits = pick('bits');
  const gs = pick('group_size');
  const mode = pick('mode');
  return {
    ...(typeof bits === 'number' ? { bits } : {}),
    // null means the mode's default, 64 for affine (mlx-lm.md §1.5).
    groupSize: typeof gs === 'number' ? gs : 64,
    mode: typeof mode === 'string' ? mode : 'affine',
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * A shard's tensors as the backend opened them, each let go after its last read: on the mlx
 * backend a raw array read once holds its bytes (e.g. bf16 beside the float32 weight built from
 * it) until its handle is collected, so holding them all until the end made the load peak the
 * resident size plus the file. `uses` counts the reads the table will make of each tensor.
 */
class TensorReader {
  private files = new Map<string, Map<string, Tensor>>();
  /** Every raw tensor handed out, kept only for a streamed group (ops.dropPages once it is done with them). */
  readonly handedOut: Tensor[] | null;

  constructor(private readonly ckpt: Checkpoint, private readonly ops: Ops, private readonly uses: Map<string, number>, keep: boolean) {
    this.handedOut = keep ? [] : null;
  }

  raw(name: string): Tensor {
    const file = this.ckpt.info(name).file;
    let tensors = this.files.get(file);
    if (!tensors) {
      tensors = this.ops.loadSafetensors(file);
      this.files.set(file, tensors);
    }
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(file, `has no tensor "${name}"`);
    const left = (this.uses.get(name) ?? 1) - 1;
    this.uses.set(name, left);
    if (left <= 0) tensors.delete(name);
    this.handedOut?.push(t);
    return t;
  }

  /** A float tensor of the expected shape. */
  float(name: string, shape: readonly number[], what: string): Tensor {
    const info = this.ckpt.info(name);
    if (!FLOAT_STORAGE.has(info.dtype)) {
      throw new CheckpointError(info.file, `tensor "${name}" is ${info.dtype}; ${what} must be F32, F16 or BF16`, 'FP8, INT4 and NVFP4 checkpoints load after conversion: `mlxk quantize SRC DST`');
    }
    if (!sameShape(info.shape, shape)) throw new CheckpointError(info.file, `tensor "${name}" has shape [${info.shape}], expected [${shape}]`);
    return this.raw(name);
  }
}

function loadQuantized(r: TensorReader, ckpt: Checkpoint, ops: Ops, e: TensorEntry, q: JsonObject | null): Weight {
  const info = ckpt.info(e.name);
  const where = `${info.file}: "${e.module}"`;
  if (!QUANTIZABLE_KINDS.has(e.kind)) throw new MlxkError(`${where} is stored quantized, but a ${e.kind} is never quantized`);
  const s = settingsFor(q, e.module, where);
  if (s.mode !== 'affine') throw new MlxkError(`${where}: quantization mode "${s.mode}" is not supported (only affine)`);
  const scales = ckpt.info(`${e.module}.scales`);
  if (!ckpt.has(`${e.module}.biases`)) throw new MlxkError(`${where}: has scales but no "${e.module}.biases" (affine quantization needs both)`);
  const cols = e.shape[e.shape.length - 1]!;
  const lead = e.shape.slice(0, -1);
  const packed = info.shape[info.shape.length - 1]!;
  const groups = scales.shape[scales.shape.length - 1]!;
  const bits = (packed * 32) / cols;
  const groupSize = cols / groups;
  if (info.dtype !== 'U32' || !sameShape(info.shape.slice(0, -1), lead) || !Number.isInteger(bits) || !Number.isInteger(groupSize)) {
    throw new CheckpointError(info.file, `tensor "${e.name}" is ${info.dtype} [${info.shape}] with scales [${scales.shape}]; expected U32 [${[...lead, `${cols}·bits/32`]}] for logical shape [${e.shape}]`);
  }
  const biases = ckpt.info(`${e.module}.biases`);
  if (!sameShape(biases.shape, scales.shape) || biases.dtype !== scales.dtype || !FLOAT_DTYPES.has(scales.dtype) || !sameShape(scales.shape.slice(0, -1), lead)) {
    throw new CheckpointError(info.file, `"${e.module}": scales ${scales.dtype} [${scales.shape}] and biases ${biases.dtype} [${biases.shape}] must be the same float dtype and shape [${[...lead, groups]}]`);
  }
  if (![2, 3, 4, 5, 6, 8].includes(bits) || ![32, 64, 128].includes(groupSize)) throw new CheckpointError(info.file, `"${e.module}": packed [${info.shape}] with scales [${scales.shape}] means ${bits}-bit values in groups of ${groupSize}; expected bits 2-6 or 8 and group size 32, 64 or 128`);
  if (s.bits !== undefined && s.bits !== bits) throw new CheckpointError(info.file, `"${e.module}": config.json quantization says ${s.bits} bits, but the packed shape [${info.shape}] holds ${bits}-bit values`);
  if (s.groupSize !== undefined && s.groupSize !== groupSize) throw new CheckpointError(info.file, `"${e.module}": config.json quantization says group_size ${s.groupSize}, but scales [${scales.shape}] give ${groupSize}`);
  return ops.affine({ weight: r.raw(e.name), scales: r.raw(`${e.module}.scales`), biases: r.raw(`${e.module}.biases`), bits, groupSize, shape: e.shape });
}

function fromSource(r: TensorReader, ckpt: Checkpoint, ops: Ops, e: TensorEntry, src: Source): Tensor | null {
  switch (src.kind) {
    case 'tensor':
      return ckpt.has(src.name) ? r.float(src.name, e.shape, e.name) : null;
    case 'stack': {
      if (!src.names.every((n) => ckpt.has(n))) return null;
      const first = ckpt.info(src.names[0]!);
      const odd = src.names.find((n) => ckpt.info(n).dtype !== first.dtype);
      if (odd !== undefined) throw new CheckpointError(ckpt.info(odd).file, `tensor "${odd}" is ${ckpt.info(odd).dtype} but "${src.names[0]}" is ${first.dtype}; the experts of "${e.name}" must share one dtype`);
      return ops.stack(src.names.map((n) => r.float(n, e.shape.slice(1), e.name)), 0);
    }
    case 'kv_b': {
      if (!ckpt.has(src.name)) return null;
      const kv = ops.reshape(r.float(src.name, [src.heads * (src.nope + src.v), src.rank], e.name), [src.heads, src.nope + src.v, src.rank]);
      // mlx_lm deepseek_v3 sanitize: embed_q = W_k^T per head, unembed_out = W_v.
      if (src.part === 'embed_q') return ops.transpose(ops.slice(kv, 1, 0, src.nope), [0, 2, 1]);
      return ops.slice(kv, 1, src.nope, src.nope + src.v);
    }
  }
}

function describeSource(src: Source): string {
  switch (src.kind) {
    case 'tensor':
      return `"${src.name}"`;
    case 'stack':
      return `${src.names.length} per-expert tensors like "${src.names[0]}"`;
    case 'kv_b':
      return `"${src.name}"`;
  }
}

/** The tensors loadWeights reads for entry `e` (the same branches, in the same order). */
function tensorsRead(ckpt: Checkpoint, e: TensorEntry): string[] {
  if (ckpt.has(e.name) && e.name.endsWith('.weight') && ckpt.has(`${e.module}.scales`)) return [e.name, `${e.module}.scales`, `${e.module}.biases`];
  if (ckpt.has(e.name)) return [e.name];
  return e.source.kind === 'stack' ? e.source.names : [e.source.name];
}

export interface LoadWeightsOptions {
  /** Entries to load (default: all but the vision tower). */
  include?: (e: TensorEntry) => boolean;
}

/** The table's entries a load covers (default: all but the vision tower). */
export function entriesToLoad(table: ModelTable, opts: LoadWeightsOptions = {}): TensorEntry[] {
  return table.entries.filter(opts.include ?? ((e: TensorEntry) => e.role !== 'vision'));
}

/** A reader for `entries`, counting the reads each tensor will get. */
function readerFor(ckpt: Checkpoint, entries: readonly TensorEntry[], ops: Ops, keep: boolean): TensorReader {
  const uses = new Map<string, number>();
  for (const e of entries) for (const n of tensorsRead(ckpt, e)) uses.set(n, (uses.get(n) ?? 0) + 1);
  return new TensorReader(ckpt, ops, uses, keep);
}

/** Makes the weights of `entries` in order, one at a time. */
function* readEntries(r: TensorReader, ckpt: Checkpoint, entries: readonly TensorEntry[], ops: Ops): Generator<[TensorEntry, Weight]> {
  const q = quantizationConfig(ckpt.config);
  for (const e of entries) {
    let w: Weight;
    if (ckpt.has(e.name) && e.name.endsWith('.weight') && ckpt.has(`${e.module}.scales`)) {
      w = loadQuantized(r, ckpt, ops, e, q);
    } else if (ckpt.has(e.name)) {
      w = ops.dense(r.float(e.name, e.shape, e.name));
    } else {
      const t = fromSource(r, ckpt, ops, e, e.source);
      if (!t) throw new CheckpointError(ckpt.dir, `missing tensor "${e.name}" (looked for it and for ${describeSource(e.source)})`);
      w = ops.dense(t);
    }
    ops.evaluate(w);
    yield [e, w];
  }
}

/**
 * Loads a group of entries at once (a streamed pass's decoder layer); returns the weights and the
 * raw tensors they were made from, for ops.dropPages when the group is let go.
 */
export function loadGroup(ckpt: Checkpoint, entries: readonly TensorEntry[], ops: Ops): { weights: Map<string, Weight>; raw: Tensor[] } {
  const r = readerFor(ckpt, entries, ops, true);
  const weights = new Map<string, Weight>();
  for (const [e, w] of readEntries(r, ckpt, entries, ops)) weights.set(e.name, w);
  return { weights, raw: r.handedOut! };
}

export async function loadWeights(ckpt: Checkpoint, table: ModelTable, ops: Ops, opts: LoadWeightsOptions = {}): Promise<ModelWeights> {
  const entries = entriesToLoad(table, opts);
  const r = readerFor(ckpt, entries, ops, false);
  const map = new Map<string, Weight>();
  for (const [e, w] of readEntries(r, ckpt, entries, ops)) {
    map.set(e.name, w);
    // A full collection: the raw handles were made at the start and are old by now.
    await ops.reclaim({ full: true });
  }
  return new ModelWeights(map);
}

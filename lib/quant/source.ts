// Reads one logical tensor of a source checkpoint as float32 rows, whatever it
// is stored as: plain F32/F16/BF16, FP8 with block scales, compressed-tensors
// INT4 or NVFP4, or MLX affine (re-quantizing an MLX checkpoint). Rows are read
// on demand so a tensor is never held whole (a Kimi embedding is 2.3 GB).
import type { Checkpoint, JsonObject } from '../io/checkpoint.js';
import { decodeFloats, type DType, FLOAT_DTYPES } from '../io/dtype.js';
import { CheckpointError } from '../io/errors.js';
import { elementCount } from '../io/safetensors.js';
import { decodeInt4Rows, decodeNvfp4Rows } from '../io/sources/compressedTensors.js';
import { type BlockSize, decodeFp8BlockRows } from '../io/sources/fp8Block.js';
import { dequantize } from './affine.js';

export type SourceFormat = 'float' | 'fp8_block' | 'int4_packed' | 'nvfp4' | 'mlx_affine';

export interface TensorSource {
  name: string;
  format: SourceFormat;
  /** Logical shape. */
  shape: number[];
  rows: number;
  cols: number;
  /** Bytes this tensor occupies in the source files (for throughput reporting). */
  storedBytes: number;
  /** The float dtype of a plain source, else null. */
  floatDtype: DType | null;
  readRows(start: number, count: number): Float32Array;
  /** Present for symmetric INT4 sources: the raw codes and scales, for a lossless remap to MLX 4-bit. */
  int4?: { groupSize: number; readRows(start: number, count: number): { words: Uint32Array; scales: Float32Array } };
}

function rowsCols(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  const cols = shape[shape.length - 1]!;
  return [elementCount(shape) / Math.max(cols, 1), cols];
}

function readFloatRange(ckpt: Checkpoint, name: string, elemStart: number, count: number): Float32Array {
  const t = ckpt.info(name);
  if (!FLOAT_DTYPES.has(t.dtype)) throw new CheckpointError(t.file, `tensor "${name}" is ${t.dtype}; expected a float dtype`);
  const size = t.dtype === 'F64' ? 8 : t.dtype === 'F32' ? 4 : t.dtype === 'F8_E4M3' ? 1 : 2;
  const bytes = ckpt.readRange(name, elemStart * size, count * size);
  const out = new Float32Array(count);
  decodeFloats(t.dtype, bytes, 0, count, out);
  return out;
}

/** A small float tensor read whole (scales, norms). */
export function readFloatTensor(ckpt: Checkpoint, name: string): Float32Array {
  return readFloatRange(ckpt, name, 0, elementCount(ckpt.info(name).shape));
}

function expectShape(ckpt: Checkpoint, name: string, shape: number[]): void {
  const got = ckpt.info(name).shape;
  if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
    throw new CheckpointError(ckpt.info(name).file, `tensor "${name}" has shape [${got}], expected [${shape}]`);
  }
}

/** Block size of FP8 sources, from quantization_config.weight_block_size. */
export function fp8BlockSize(config: JsonObject): BlockSize {
  const qc = (config.quantization_config ?? (config.text_config as JsonObject | undefined)?.quantization_config) as JsonObject | undefined;
  const bs = qc?.weight_block_size;
  if (Array.isArray(bs) && bs.length === 2 && bs.every((x) => Number.isInteger(x) && x > 0)) return bs as BlockSize;
  return [128, 128];
}

/**
 * Open logical tensor `name` (e.g. "model.layers.0.mlp.experts.3.up_proj.weight") of
 * `ckpt`, expecting `shape`. Throws a CheckpointError naming what was looked for.
 */
export function openTensor(ckpt: Checkpoint, name: string, shape: number[]): TensorSource {
  const [rows, cols] = rowsCols(shape);
  const base = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : null;
  const stored = (...names: string[]) => names.reduce((a, n) => a + (ckpt.has(n) ? ckpt.info(n).end - ckpt.info(n).start : 0), 0);

  if (ckpt.has(name)) {
    const t = ckpt.info(name);
    if (t.dtype === 'F8_E4M3' && base && ckpt.has(`${base}.weight_scale_inv`)) {
      expectShape(ckpt, name, shape);
      const block = fp8BlockSize(ckpt.config);
      const scaleInv = readFloatTensor(ckpt, `${base}.weight_scale_inv`);
      const expected = Math.ceil(rows / block[0]) * Math.ceil(cols / block[1]);
      if (scaleInv.length !== expected) throw new CheckpointError(t.file, `"${base}.weight_scale_inv" has ${scaleInv.length} scales; blocks of ${block.join('×')} over [${shape}] need ${expected}`);
      return {
        name, format: 'fp8_block', shape, rows, cols, floatDtype: null, storedBytes: stored(name, `${base}.weight_scale_inv`),
        readRows: (start, count) => decodeFp8BlockRows(ckpt.readRange(name, start * cols, count * cols), scaleInv, start, count, cols, block),
      };
    }
    if (t.dtype === 'U32' && base && ckpt.has(`${base}.scales`)) return openMlxAffine(ckpt, name, base, shape, rows, cols, stored(name, `${base}.scales`, `${base}.biases`));
    if (FLOAT_DTYPES.has(t.dtype) && t.dtype !== 'F8_E4M3') {
      if (elementCount(t.shape) !== rows * cols) expectShape(ckpt, name, shape);
      return {
        name, format: 'float', shape, rows, cols, floatDtype: t.dtype, storedBytes: stored(name),
        readRows: (start, count) => readFloatRange(ckpt, name, start * cols, count * cols),
      };
    }
    throw new CheckpointError(t.file, `tensor "${name}" is ${t.dtype}, which mlxk cannot read as weights (no matching scale tensors found)`);
  }

  if (base && ckpt.has(`${base}.weight_packed`)) {
    const packedName = `${base}.weight_packed`;
    const packed = ckpt.info(packedName);
    const scaleName = `${base}.weight_scale`;
    if (!ckpt.has(scaleName)) throw new CheckpointError(packed.file, `"${packedName}" has no "${scaleName}" beside it`);
    if (ckpt.has(`${base}.weight_global_scale`)) {
      if (packed.dtype !== 'U8') throw new CheckpointError(packed.file, `"${packedName}" is ${packed.dtype}; NVFP4 packs two codes per U8`);
      expectShape(ckpt, packedName, [rows, cols / 2]);
      expectShape(ckpt, scaleName, [rows, cols / 16]);
      const globalScale = readFloatTensor(ckpt, `${base}.weight_global_scale`)[0]!;
      return {
        name, format: 'nvfp4', shape, rows, cols, floatDtype: null, storedBytes: stored(packedName, scaleName, `${base}.weight_global_scale`),
        readRows: (start, count) => decodeNvfp4Rows(ckpt.readRange(packedName, (start * cols) / 2, (count * cols) / 2), ckpt.readRange(scaleName, (start * cols) / 16, (count * cols) / 16), globalScale, count, cols),
      };
    }
    if (packed.dtype !== 'I32' && packed.dtype !== 'U32') throw new CheckpointError(packed.file, `"${packedName}" is ${packed.dtype}; pack-quantized INT4 stores I32 words`);
    expectShape(ckpt, packedName, [rows, cols / 8]);
    const scaleInfo = ckpt.info(scaleName);
    const groups = scaleInfo.shape[scaleInfo.shape.length - 1]!;
    if (scaleInfo.shape[0] !== rows || cols % groups !== 0) throw new CheckpointError(scaleInfo.file, `"${scaleName}" has shape [${scaleInfo.shape}], expected [${rows}, ${cols}/group_size]`);
    const groupSize = cols / groups;
    const zpName = `${base}.weight_zero_point`;
    const zeroPoints = ckpt.has(zpName) ? readFloatTensor(ckpt, zpName) : undefined;
    const rowBytes = cols / 2;
    const readScales = (start: number, count: number) => readFloatRange(ckpt, scaleName, start * groups, count * groups);
    const source: TensorSource = {
      name, format: 'int4_packed', shape, rows, cols, floatDtype: null, storedBytes: stored(packedName, scaleName, zpName, `${base}.weight_shape`),
      readRows: (start, count) => decodeInt4Rows(ckpt.readRange(packedName, start * rowBytes, count * rowBytes), readScales(start, count), count, cols, groupSize, zeroPoints?.subarray(start * groups, (start + count) * groups)),
    };
    if (!zeroPoints) {
      source.int4 = {
        groupSize,
        readRows: (start, count) => {
          const bytes = ckpt.readRange(packedName, start * rowBytes, count * rowBytes);
          return { words: new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), scales: readScales(start, count) };
        },
      };
    }
    return source;
  }

  throw new CheckpointError(ckpt.dir, `missing tensor "${name}"${base ? ` (looked for ${name}, ${base}.weight_packed)` : ''}`);
}

function openMlxAffine(ckpt: Checkpoint, name: string, base: string, shape: number[], rows: number, cols: number, storedBytes: number): TensorSource {
  const w = ckpt.info(name);
  const packedCols = w.shape[w.shape.length - 1]!;
  const bits = (packedCols * 32) / cols;
  const scalesInfo = ckpt.info(`${base}.scales`);
  const groups = scalesInfo.shape[scalesInfo.shape.length - 1]!;
  const groupSize = cols / groups;
  if (!Number.isInteger(bits) || !Number.isInteger(groupSize)) throw new CheckpointError(w.file, `"${name}" [${w.shape}] with scales [${scalesInfo.shape}] does not fit a logical [${shape}] affine tensor`);
  const hasBiases = ckpt.has(`${base}.biases`);
  return {
    name, format: 'mlx_affine', shape, rows, cols, floatDtype: null, storedBytes,
    readRows: (start, count) => {
      const bytes = ckpt.readRange(name, start * packedCols * 4, count * packedCols * 4);
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      const scales = readFloatRange(ckpt, `${base}.scales`, start * groups, count * groups);
      const biases = hasBiases ? readFloatRange(ckpt, `${base}.biases`, start * groups, count * groups) : new Float32Array(count * groups);
      return dequantize(words, scales, biases, count, cols, bits, groupSize);
    },
  };
}


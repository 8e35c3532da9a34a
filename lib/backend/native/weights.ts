// Weights of the native backend. Matrices (and stacks of them: experts, per-head
// weights) become addon Weights that point at their bytes where they lie — inside the
// memory-mapped checkpoint for tensors read straight from a file (no copy; the page
// cache is shared between processes), or in host memory for tensors assembled at load
// time. One-dimensional parameters (norm weights, biases, router bias) are float32 copies.
import { DTYPE_BYTES, type DType } from '../../io/dtype.js';
import { MlxkError } from '../../io/errors.js';
import { isSupportedBits, isSupportedGroupSize } from '../../quant/affine.js';
import { type AddonWeight, type DenseTensorRef, type MappedBytes, type ModelOpsAddon, type ScaleDtype } from './addon.js';
import { contiguous, HostTensor, MappedTensor, type NativeTensor, toF32 } from './tensor.js';

export type NativeWeight =
  | { kind: 'vector'; shape: number[]; data: Float32Array }
  /** mapped: the bytes are used in place inside a memory-mapped file (not copied) */
  | { kind: 'matrix'; shape: number[]; handle: AddonWeight; quantized: boolean; bits?: number; groupSize?: number; mapped: boolean };

const FLOAT_DTYPES: Partial<Record<DType, ScaleDtype>> = { BF16: 'bf16', F16: 'f16', F32: 'f32' };
/** dtype names as MLX prints them, so both backends word their errors alike. */
const MLX_NAMES: Partial<Record<DType, string>> = { U32: 'uint32', F32: 'float32', F16: 'float16', BF16: 'bfloat16', I32: 'int32', U8: 'uint8' };
const mlxName = (d: DType) => MLX_NAMES[d] ?? d.toLowerCase();

/** Where a tensor's bytes are: in place inside its mapped file, or a contiguous host array. */
function bytesOf(t: NativeTensor): MappedBytes | Uint8Array {
  if (t instanceof MappedTensor) return { file: t.file, offset: t.byteOffset };
  const c = contiguous(t);
  const eb = DTYPE_BYTES[c.dtype];
  const d = c.storage.data;
  return new Uint8Array(d.buffer, d.byteOffset + c.offset * eb, c.size * eb);
}

export function denseWeight(addon: ModelOpsAddon, t: NativeTensor): NativeWeight {
  if (t.shape.length <= 1) return { kind: 'vector', shape: [...t.shape], data: toF32(t) };
  let src: NativeTensor = t;
  let dtype = FLOAT_DTYPES[t.dtype];
  if (!dtype) {
    // F64 and integer tensors: computed on as float32 copies.
    src = new HostTensor('F32', { data: toF32(t), viewLo: 0, viewHi: 0 }, 0, t.shape, contiguous(t).strides);
    dtype = 'f32';
  }
  const [n, k] = t.shape.slice(-2) as [number, number];
  const experts = t.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const ref: DenseTensorRef = { weights: bytesOf(src), n, k, dtype };
  return { kind: 'matrix', shape: [...t.shape], handle: new addon.Weight({ kind: 'dense', ...ref, experts }), quantized: false, mapped: !ArrayBuffer.isView(ref.weights) };
}

export interface AffineTensors {
  weight: NativeTensor;
  scales: NativeTensor;
  biases: NativeTensor;
  bits: number;
  groupSize: number;
  shape: number[];
}

export function affineWeight(addon: ModelOpsAddon, p: AffineTensors): NativeWeight {
  const { weight: w, scales, biases, bits, groupSize, shape } = p;
  const where = `quantized weight of logical shape [${shape}]`;
  if (shape.length < 2) throw new MlxkError(`${where}: expected a matrix [out, in] or a stack [..., out, in]`);
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new MlxkError(`${where}: ${bits} bits is not supported (expected 2..8)`);
  const cols = shape[shape.length - 1]!;
  const lead = shape.slice(0, -1);
  if (cols % groupSize !== 0 || (cols * bits) % 32 !== 0) throw new MlxkError(`${where}: ${cols} columns do not split into groups of ${groupSize} and whole ${bits}-bit words`);
  const words = [...lead, (cols * bits) / 32];
  if (w.dtype !== 'U32' || w.shape.join(',') !== words.join(',')) throw new MlxkError(`${where}: packed words are ${mlxName(w.dtype)} [${w.shape}], expected uint32 [${words}]`);
  const groups = [...lead, cols / groupSize];
  for (const [name, t] of [['scales', scales], ['biases', biases]] as const) {
    if (t.shape.join(',') !== groups.join(',')) throw new MlxkError(`${where}: ${name} are [${t.shape}], expected [${groups}]`);
  }
  if (!isSupportedBits(bits)) throw new MlxkError(`${where}: ${bits} bits is not supported by the native kernels (2, 3, 4, 5, 6, 8)`);
  if (!isSupportedGroupSize(groupSize)) throw new MlxkError(`${where}: group size ${groupSize} is not supported by the native kernels (32, 64, 128)`);
  const scaleDtype = FLOAT_DTYPES[scales.dtype];
  if (!scaleDtype || biases.dtype !== scales.dtype) throw new MlxkError(`${where}: scales and biases are ${mlxName(scales.dtype)} and ${mlxName(biases.dtype)}; expected one of float32, float16, bfloat16`);
  const [n, k] = shape.slice(-2) as [number, number];
  const experts = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const parts = [bytesOf(w), bytesOf(scales), bytesOf(biases)] as const;
  const handle = new addon.Weight({ kind: 'quant', weights: parts[0], scales: parts[1], biases: parts[2], n, k, bits, groupSize: groupSize as 32 | 64 | 128, scaleDtype, experts });
  return { kind: 'matrix', shape: [...shape], handle, quantized: true, bits, groupSize, mapped: parts.every((b) => !ArrayBuffer.isView(b)) };
}

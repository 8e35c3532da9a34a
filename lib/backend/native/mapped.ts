// A safetensors file memory-mapped for the native kernels: the header is parsed
// and validated by lib/io/safetensors.ts, the data is used in place (no copy;
// MLX's files leave tensors at unaligned offsets, which the kernels accept).
import type { DType } from '../../io/dtype.js';
import { CheckpointError } from '../../io/errors.js';
import { SafetensorsFile, type TensorInfo } from '../../io/safetensors.js';
import { isSupportedBits, isSupportedGroupSize } from '../../quant/affine.js';
import { mapFile, type DenseTensorRef, type MappedBytes, type MappedFile, type QuantTensorRef, type ScaleDtype } from './addon.js';

export interface MappedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: MappedBytes;
  byteLength: number;
}

const SCALE_DTYPES: Partial<Record<DType, ScaleDtype>> = { BF16: 'bf16', F16: 'f16', F32: 'f32' };

export class MappedSafetensors {
  private constructor(
    readonly path: string,
    readonly file: MappedFile,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
  ) {}

  static open(path: string): MappedSafetensors {
    const header = SafetensorsFile.open(path);
    try {
      return new MappedSafetensors(path, mapFile(path), header.tensors);
    } finally {
      header.close();
    }
  }

  tensor(name: string): MappedTensor {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `has no tensor "${name}"`);
    return { name, dtype: t.dtype, shape: t.shape, bytes: { file: this.file, offset: t.start }, byteLength: t.end - t.start };
  }

  /**
   * The quantized linear `${prefix}.weight|scales|biases` (mlx-lm names), 2-D [n, ·] or
   * stacked experts [e, n, ·]. k is inferred from the scales and checked against the weight.
   */
  quantized(prefix: string, bits: number, groupSize: number): QuantTensorRef {
    if (!isSupportedBits(bits)) throw new CheckpointError(this.path, `${prefix}: ${bits}-bit is not an MLX affine width (2, 3, 4, 5, 6, 8)`);
    if (!isSupportedGroupSize(groupSize)) throw new CheckpointError(this.path, `${prefix}: group size ${groupSize} is not 32, 64 or 128`);
    const w = this.tensor(`${prefix}.weight`);
    const s = this.tensor(`${prefix}.scales`);
    const b = this.tensor(`${prefix}.biases`);
    const where = (t: MappedTensor) => `${t.name} ${t.dtype}[${t.shape.join(', ')}]`;
    if (w.dtype !== 'U32' || (w.shape.length !== 2 && w.shape.length !== 3)) {
      throw new CheckpointError(this.path, `${where(w)}: expected U32 [n, k·bits/32] or [experts, n, k·bits/32]`);
    }
    const scaleDtype = SCALE_DTYPES[s.dtype];
    if (!scaleDtype || s.dtype !== b.dtype || s.shape.join() !== b.shape.join() || s.shape.length !== w.shape.length) {
      throw new CheckpointError(this.path, `${where(s)} / ${where(b)}: scales and biases must be BF16, F16 or F32 of one shape matching ${where(w)}`);
    }
    const experts = w.shape.length === 3 ? w.shape[0]! : 1;
    const n = w.shape[w.shape.length - 2]!;
    const k = s.shape[s.shape.length - 1]! * groupSize;
    if (s.shape[s.shape.length - 2] !== n || (w.shape.length === 3 && s.shape[0] !== experts) || w.shape[w.shape.length - 1]! * 32 !== k * bits) {
      throw new CheckpointError(this.path, `${where(w)} does not match ${where(s)} at ${bits} bits, group size ${groupSize}`);
    }
    return { weights: w.bytes, scales: s.bytes, biases: b.bytes, n, k, bits, groupSize: groupSize as 32 | 64 | 128, scaleDtype, experts };
  }

  /** A 2-D BF16/F16/F32 tensor [n, k] (a non-quantized linear) for denseMatmul. */
  dense(name: string): DenseTensorRef {
    const t = this.tensor(name);
    const dtype = SCALE_DTYPES[t.dtype];
    if (!dtype || t.shape.length !== 2) throw new CheckpointError(this.path, `${name} ${t.dtype}[${t.shape.join(', ')}]: expected a 2-D BF16, F16 or F32 tensor`);
    return { weights: t.bytes, n: t.shape[0]!, k: t.shape[1]!, dtype };
  }

  close(): void {
    this.file.close();
  }
}

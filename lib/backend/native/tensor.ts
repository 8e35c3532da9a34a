// Tensors of the native backend: host arrays with shape and strides (views share
// storage: slices, transposes, broadcasts copy nothing), or tensors still inside a
// memory-mapped safetensors file (what loadSafetensors returns; weights use them in place).
//
// Immutability with in-place cache writes (ops.ts writeRows): a storage records the
// element range any view of it has covered. A write into rows no view has seen happens
// in place (a KV cache appending after its last slice); a write into seen rows copies
// the storage first (after a trim, or into a buffer a fork still reads), so no tensor
// ever changes under its holder.
import { decodeFloats, DTYPE_BYTES, type DType } from '../../io/dtype.js';
import { MlxkError } from '../../io/errors.js';
import type { MappedFile } from './addon.js';

export type HostArray = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array | BigInt64Array;

export interface Storage {
  readonly data: HostArray;
  /** Element range [viewLo, viewHi) covered by views handed out so far. */
  viewLo: number;
  viewHi: number;
}

export class HostTensor {
  constructor(
    readonly dtype: DType,
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
  ) {}

  get size(): number {
    return sizeOf(this.shape);
  }

  get contiguous(): boolean {
    let expect = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i]!;
    }
    return true;
  }
}

/** A tensor inside a mapped file, stored contiguously in `dtype`. */
export class MappedTensor {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly file: MappedFile,
    readonly byteOffset: number,
  ) {}

  get size(): number {
    return sizeOf(this.shape);
  }

  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }
}

export type NativeTensor = HostTensor | MappedTensor;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function arrayFor(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'F32':
      return new Float32Array(n);
    case 'F64':
      return new Float64Array(n);
    case 'I32':
      return new Int32Array(n);
    case 'U32':
      return new Uint32Array(n);
    case 'I16':
      return new Int16Array(n);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(n);
    case 'I8':
      return new Int8Array(n);
    case 'I64':
      return new BigInt64Array(n);
    case 'U8':
    case 'BOOL':
    case 'F8_E4M3':
      return new Uint8Array(n);
  }
}

/** A fresh contiguous tensor owning `data`. */
export function hostTensor(dtype: DType, data: HostArray, shape: readonly number[]): HostTensor {
  if (data.length !== sizeOf(shape)) throw new MlxkError(`${data.length} values do not fill shape [${shape}]`);
  return new HostTensor(dtype, { data, viewLo: 0, viewHi: 0 }, 0, [...shape], rowMajorStrides(shape));
}

export function f32(data: Float32Array, shape: readonly number[]): HostTensor {
  return hostTensor('F32', data, shape);
}

/** A view of t's storage; records the elements it covers (see writeRows). */
export function view(t: HostTensor, offset: number, shape: readonly number[], strides: readonly number[]): HostTensor {
  const size = sizeOf(shape);
  if (size > 0) {
    let hi = offset;
    for (let i = 0; i < shape.length; i++) hi += (shape[i]! - 1) * strides[i]!;
    const st = t.storage;
    if (st.viewHi <= st.viewLo) {
      st.viewLo = offset;
      st.viewHi = hi + 1;
    } else {
      st.viewLo = Math.min(st.viewLo, offset);
      st.viewHi = Math.max(st.viewHi, hi + 1);
    }
  }
  return new HostTensor(t.dtype, t.storage, offset, [...shape], [...strides]);
}

/** The tensor's bytes copied out of its file into a host array of its dtype. */
export function materialize(t: NativeTensor): HostTensor {
  if (t instanceof HostTensor) return t;
  const data = arrayFor(t.dtype, t.size);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(t.file.read(t.byteOffset, t.byteLength));
  return hostTensor(t.dtype, data, t.shape);
}

/**
 * Copies src (any strides) into dst (any strides) of the same shape, element by element
 * in row-major order; runs along a contiguous last axis are copied with set().
 */
export function copyInto(dst: HostTensor, src: HostTensor): void {
  const shape = src.shape;
  const nd = shape.length;
  if (dst.shape.length !== nd || dst.shape.some((d, i) => d !== shape[i])) throw new Error(`copy of [${shape}] into [${dst.shape}]`);
  if (src.size === 0) return;
  const d = dst.storage.data as Float32Array;
  const s = src.storage.data as Float32Array;
  const inner = nd === 0 ? 1 : shape[nd - 1]!;
  const dStep = nd === 0 ? 1 : dst.strides[nd - 1]!;
  const sStep = nd === 0 ? 1 : src.strides[nd - 1]!;
  const outer = nd === 0 ? 1 : src.size / inner;
  const idx = new Array<number>(Math.max(0, nd - 1)).fill(0);
  let dOff = dst.offset;
  let sOff = src.offset;
  for (let o = 0; o < outer; o++) {
    if (dStep === 1 && sStep === 1) {
      d.set(s.subarray(sOff, sOff + inner), dOff);
    } else {
      for (let i = 0; i < inner; i++) d[dOff + i * dStep] = s[sOff + i * sStep]!;
    }
    // advance the outer index (row-major odometer over axes 0..nd-2)
    for (let ax = nd - 2; ax >= 0; ax--) {
      idx[ax]!++;
      dOff += dst.strides[ax]!;
      sOff += src.strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      dOff -= dst.strides[ax]! * shape[ax]!;
      sOff -= src.strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

/** t as a contiguous host tensor: itself when it already is one, else a row-major copy. */
export function contiguous(t: NativeTensor): HostTensor {
  const h = materialize(t);
  if (h.contiguous) return h;
  const out = hostTensor(h.dtype, arrayFor(h.dtype, h.size), h.shape);
  copyInto(out, h);
  return out;
}

/** The float32 elements of t in row-major order, without copying when t is a contiguous float32 tensor. */
export function f32Data(t: NativeTensor): Float32Array {
  if (t instanceof MappedTensor || t.dtype !== 'F32') return toF32(t);
  const c = contiguous(t);
  return (c.storage.data as Float32Array).subarray(c.offset, c.offset + c.size);
}

/** A fresh float32 copy of any tensor's values, row-major. */
export function toF32(t: NativeTensor): Float32Array {
  const c = contiguous(t);
  const data = c.storage.data;
  const start = c.offset;
  const n = c.size;
  if (c.dtype === 'F32') return (data as Float32Array).slice(start, start + n);
  if (c.dtype === 'BF16' || c.dtype === 'F16' || c.dtype === 'F8_E4M3') {
    const out = new Float32Array(n);
    decodeFloats(c.dtype, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start * DTYPE_BYTES[c.dtype], n, out);
    return out;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Number(data[start + i]!);
  return out;
}

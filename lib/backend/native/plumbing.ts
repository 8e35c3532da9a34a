// Shape operations of the native backend (ops.ts): views wherever the layout allows
// (reshape of contiguous data, slices, transposes, broadcasts), copies otherwise.
// Tensors inside a mapped file stay mapped through reshapes and leading-axis slices,
// and are copied out of the file (in their stored dtype) for anything else — the
// Hugging Face layouts assembled at load time (stacked experts, split kv_b_proj).
import { DTYPE_BYTES } from '../../io/dtype.js';
import { MlxkError } from '../../io/errors.js';
import { arrayFor, contiguous, copyInto, f32, f32Data, HostTensor, hostTensor, MappedTensor, materialize, type NativeTensor, rowMajorStrides, sizeOf, view } from './tensor.js';

function axisOf(ndim: number, axis: number, what: string): number {
  const a = axis < 0 ? ndim + axis : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) throw new MlxkError(`${what}: axis ${axis} is outside a tensor of ${ndim} dimensions`);
  return a;
}

function resolveShape(size: number, shape: readonly number[], from: readonly number[]): number[] {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
    out[unknown] = known === 0 ? 0 : size / known;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(out) !== size) throw new MlxkError(`reshape: [${from}] (${size} values) cannot become [${shape}]`);
  return out;
}

export function reshape(x: NativeTensor, shape: readonly number[]): NativeTensor {
  const s = resolveShape(x.size, shape, x.shape);
  if (x instanceof MappedTensor) return new MappedTensor(x.dtype, s, x.file, x.byteOffset);
  const c = contiguous(x);
  return view(c, c.offset, s, rowMajorStrides(s));
}

export function slice(x: NativeTensor, axis: number, start: number, end: number): NativeTensor {
  const a = axisOf(x.shape.length, axis, 'slice');
  const dim = x.shape[a]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > dim) {
    throw new MlxkError(`slice: [${start}, ${end}) is outside axis ${a} of length ${dim}`);
  }
  const shape = [...x.shape];
  shape[a] = end - start;
  if (x instanceof MappedTensor) {
    // A slice along the first axis of non-unit extent is still one contiguous run of the file.
    if (x.shape.slice(0, a).every((d) => d === 1)) {
      const rowBytes = sizeOf(x.shape.slice(a + 1)) * DTYPE_BYTES[x.dtype];
      return new MappedTensor(x.dtype, shape, x.file, x.byteOffset + start * rowBytes);
    }
  }
  const h = materialize(x);
  return view(h, h.offset + start * h.strides[a]!, shape, h.strides);
}

export function transpose(x: NativeTensor, axes: readonly number[]): NativeTensor {
  const nd = x.shape.length;
  if (axes.length !== nd || [...axes].sort((p, q) => p - q).some((v, i) => v !== i)) throw new MlxkError(`transpose: axes [${axes}] are not a permutation of ${nd} dimensions`);
  const h = materialize(x);
  return view(h, h.offset, axes.map((i) => h.shape[i]!), axes.map((i) => h.strides[i]!));
}

/** numpy rules: trailing axes aligned, size-1 axes repeated (stride 0). */
export function broadcast(x: NativeTensor, shape: readonly number[]): NativeTensor {
  const h = materialize(x);
  const lead = shape.length - h.shape.length;
  if (lead < 0) throw new MlxkError(`broadcast: [${h.shape}] has more dimensions than [${shape}]`);
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const src = h.shape[i - lead]!;
    if (src === d) return h.strides[i - lead]!;
    if (src === 1) return 0;
    throw new MlxkError(`broadcast: [${h.shape}] cannot broadcast to [${shape}]`);
  });
  return view(h, h.offset, shape, strides);
}

export function concat(xs: readonly NativeTensor[], axis: number): HostTensor {
  if (xs.length === 0) throw new MlxkError('concat: no tensors');
  const first = xs[0]!;
  const a = axisOf(first.shape.length, axis, 'concat');
  for (const x of xs) {
    if (x.dtype !== first.dtype || x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new MlxkError(`concat along axis ${a}: [${x.shape}] ${x.dtype} does not match [${first.shape}] ${first.dtype}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = xs.reduce((s, x) => s + x.shape[a]!, 0);
  const out = hostTensor(first.dtype, arrayFor(first.dtype, sizeOf(shape)), shape);
  let at = 0;
  for (const x of xs) {
    const part = new HostTensor(out.dtype, out.storage, out.offset + at * out.strides[a]!, x.shape, out.strides);
    copyInto(part, materialize(x));
    at += x.shape[a]!;
  }
  return out;
}

export function stack(xs: readonly NativeTensor[], axis: number): HostTensor {
  if (xs.length === 0) throw new MlxkError('stack: no tensors');
  const a = axis < 0 ? xs[0]!.shape.length + 1 + axis : axis;
  return concat(xs.map((x) => reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)])), a);
}

/** Broadcasting elementwise sum in float32. */
export function add(a: NativeTensor, b: NativeTensor, sameShapeAdd: (x: Float32Array, y: Float32Array, out: Float32Array) => void): HostTensor {
  const nd = Math.max(a.shape.length, b.shape.length);
  const pad = (s: readonly number[]) => [...new Array<number>(nd - s.length).fill(1), ...s];
  const [pa, pb] = [pad(a.shape), pad(b.shape)];
  const shape = pa.map((d, i) => {
    if (d === pb[i] || pb[i] === 1) return d;
    if (d === 1) return pb[i]!;
    throw new MlxkError(`add: shapes [${a.shape}] and [${b.shape}] do not broadcast`);
  });
  const out = new Float32Array(sizeOf(shape));
  const full = (t: NativeTensor) => f32Data(sizeOf(t.shape) === out.length ? t : contiguous(broadcast(f32(f32Data(t), t.shape), shape)));
  sameShapeAdd(full(a), full(b), out);
  return f32(out, shape);
}

/**
 * buffer with rows at..at+n−1 (axis 0) replaced by rows. In place unless a view has seen
 * those elements (then on a copy of the storage), see tensor.ts.
 */
/**
 * The buffer to write rows at..at+n−1 of in place: itself, or a copy of its storage when a view
 * handed out earlier covers those rows (so no tensor changes under its holder; tensor.ts).
 */
export function writableRows(buffer: NativeTensor, at: number, n: number): HostTensor {
  const b = materialize(buffer);
  const lo = b.offset + at * b.strides[0]!;
  const hi = b.offset + (at + n) * b.strides[0]!;
  const st = b.storage;
  if (!(st.viewLo < hi && lo < st.viewHi)) return b;
  return new HostTensor(b.dtype, { data: st.data.slice(), viewLo: 0, viewHi: 0 }, b.offset, b.shape, b.strides);
}

export function writeRows(buffer: NativeTensor, rows: NativeTensor, at: number): HostTensor {
  const n = rows.shape[0] ?? 0;
  if (rows.shape.length !== buffer.shape.length || rows.shape.some((d, i) => i > 0 && d !== buffer.shape[i]) || !Number.isInteger(at) || at < 0 || at + n > buffer.shape[0]!) {
    throw new MlxkError(`writeRows: rows [${rows.shape}] at ${at} do not fit a buffer [${buffer.shape}]`);
  }
  const b = writableRows(buffer, at, n);
  const src = materialize(rows);
  copyInto(new HostTensor(b.dtype, b.storage, b.offset + at * b.strides[0]!, src.shape, b.strides), src.dtype === b.dtype ? src : f32(f32Data(src), src.shape));
  return new HostTensor(b.dtype, b.storage, b.offset, b.shape, b.strides);
}

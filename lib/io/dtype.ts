// Element types of safetensors files and conversions between their bit patterns
// and float32. Conversions work on whole buffers because tensors are read as
// byte ranges; a DataView-free path keeps unaligned offsets safe (callers copy
// into fresh, aligned buffers before viewing them as typed arrays).

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'I64' | 'I32' | 'I16' | 'I8' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, I64: 8, I32: 4, I16: 2, I8: 1, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3']);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → bfloat16 bits, round to nearest even (what MLX and PyTorch do). NaN stays NaN. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Round a float32 value to the nearest bfloat16 value (returned as a JS number). */
export function roundBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 → IEEE half bits, round to nearest even, overflow to infinity. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** OCP FP8 E4M3 (the "fn" variant: no infinities, 0x7f/0xff are NaN, max 448). */
export const F8_E4M3_TABLE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const exp = (b >>> 3) & 0xf;
    const mant = b & 0x7;
    if (exp === 0xf && mant === 0x7) t[b] = NaN;
    else if (exp === 0) t[b] = sign * (mant / 8) * 2 ** -6;
    else t[b] = sign * (1 + mant / 8) * 2 ** (exp - 7);
  }
  return t;
})();

/** FP4 E2M1 magnitudes indexed by the low three bits; bit 3 is the sign. */
export const FP4_E2M1_VALUES: readonly number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/**
 * Decode `count` elements of a float dtype starting at `byteOffset` of `bytes` into `out`
 * (from `outOffset`). Reads byte by byte, so the source may be unaligned.
 */
export function decodeFloats(dtype: DType, bytes: Uint8Array, byteOffset: number, count: number, out: Float32Array, outOffset = 0): void {
  const b = bytes;
  let p = byteOffset;
  switch (dtype) {
    case 'F32': {
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < count; i++, p += 4) out[outOffset + i] = view.getFloat32(p, true);
      return;
    }
    case 'F64': {
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < count; i++, p += 8) out[outOffset + i] = view.getFloat64(p, true);
      return;
    }
    case 'BF16': {
      const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
      for (let i = 0; i < count; i++, p += 2) o32[outOffset + i] = (b[p]! | (b[p + 1]! << 8)) << 16;
      return;
    }
    case 'F16':
      for (let i = 0; i < count; i++, p += 2) out[outOffset + i] = f16BitsToF32(b[p]! | (b[p + 1]! << 8));
      return;
    case 'F8_E4M3':
      for (let i = 0; i < count; i++, p++) out[outOffset + i] = F8_E4M3_TABLE[b[p]!]!;
      return;
    default:
      throw new Error(`decodeFloats: ${dtype} is not a floating-point dtype`);
  }
}

/** Encode float32 values as `dtype` bytes (F32, F16 or BF16; rounding to nearest even). */
export function encodeFloats(dtype: DType, values: Float32Array): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint16Array(values.length);
  if (dtype === 'BF16') for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]!);
  else if (dtype === 'F16') for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  else throw new Error(`encodeFloats: cannot encode ${dtype}`);
  return new Uint8Array(out.buffer);
}

const E4M3_POSITIVE: Float32Array = F8_E4M3_TABLE.slice(0, 0x7f);

/** float32 → FP8 E4M3 byte: round to nearest, ties to even code, saturating at ±448 (PyTorch's cast). */
export function f32ToE4m3(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= 448) return sign | 0x7e;
  let lo = 0;
  let hi = E4M3_POSITIVE.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (E4M3_POSITIVE[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - E4M3_POSITIVE[lo]!;
  const dHi = E4M3_POSITIVE[hi]! - a;
  const code = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | code;
}

/** Rounding of float32 values to a float storage dtype (round to nearest even). */
export function roundingFor(dtype: DType): (x: number) => number {
  switch (dtype) {
    case 'BF16':
      return roundBf16;
    case 'F16':
      return (x) => f16BitsToF32(f32ToF16Bits(x));
    case 'F32':
      return Math.fround;
    default:
      throw new Error(`no float rounding for ${dtype}`);
  }
}

// MLX affine quantization math shared by the C++ kernels (native/src) and the
// Metal kernels (metal/). Layout: mlx/backend/cpu/quantized.cpp, see
// ../shared/reference/mlx-lm.md §2.3. Each row of K values is one LSB-first
// bitstream; for every bit width B in {2,3,4,5,6,8}, values 8j..8j+7 occupy
// exactly bytes B*j .. B*j+B-1 of the row (a "pack"), so one pack is read as a
// little-endian integer of B bytes and value i of it is bits [i*B, i*B+B).
// Dequantization: w = scale*q + bias, one (scale, bias) per group of
// group_size values along the row. Scales may be negative.
//
// Kept free of CPU-only constructs (no std::, no memcpy, no exceptions) so a
// .metal file can include it: pointers are template parameters, which carries
// Metal's address space (device/threadgroup/thread) through.
#ifndef MLXK_AFFINE_H
#define MLXK_AFFINE_H

#if defined(__METAL_VERSION__)
#define MLXK_INLINE inline
typedef ulong mlxk_u64;
typedef uint mlxk_u32;
typedef ushort mlxk_u16;
typedef uchar mlxk_u8;
#else
#include <stdint.h>
#define MLXK_INLINE static inline
typedef uint64_t mlxk_u64;
typedef uint32_t mlxk_u32;
typedef uint16_t mlxk_u16;
typedef uint8_t mlxk_u8;
#endif

// Values per pack and bytes per pack (the same rule for every supported width).
#define MLXK_PACK_VALUES 8

/** Bytes of one packed row of k values. */
MLXK_INLINE mlxk_u64 mlxk_row_bytes(mlxk_u64 k, int bits) { return k * (mlxk_u64)bits / 8; }

/** Reads pack j's B bytes as a little-endian integer. */
template <int B, typename P>
MLXK_INLINE mlxk_u64 mlxk_load_pack(P row, mlxk_u64 j) {
  mlxk_u64 v = 0;
  for (int i = 0; i < B; ++i) v |= (mlxk_u64)row[j * B + i] << (8 * i);
  return v;
}

/** Value i (0..7) of a pack read by mlxk_load_pack. */
template <int B>
MLXK_INLINE mlxk_u32 mlxk_pack_value(mlxk_u64 pack, int i) {
  return (mlxk_u32)(pack >> (i * B)) & ((1u << B) - 1u);
}

/** Value k of a packed row (random access; the value spans at most 2 bytes). */
template <int B, typename P>
MLXK_INLINE mlxk_u32 mlxk_row_value(P row, mlxk_u64 k) {
  mlxk_u64 bit = k * B;
  mlxk_u32 lo = row[bit >> 3];
  mlxk_u32 hi = ((bit & 7) + B > 8) ? (mlxk_u32)row[(bit >> 3) + 1] : 0u;
  return ((lo | (hi << 8)) >> (bit & 7)) & ((1u << B) - 1u);
}

/** Σ x_i·q_i over one pack of 8 values (float dot; scale and bias are applied by the caller). */
template <int B, typename X>
MLXK_INLINE float mlxk_pack_dot(mlxk_u64 pack, X x) {
  float acc = 0.0f;
  for (int i = 0; i < MLXK_PACK_VALUES; ++i) acc += x[i] * (float)mlxk_pack_value<B>(pack, i);
  return acc;
}

/** Dequantized value: the affine map applied to one quantized value. */
MLXK_INLINE float mlxk_dequant(mlxk_u32 q, float scale, float bias) { return scale * (float)q + bias; }

// Scale/bias storage dtypes, decoded from raw 16/32-bit patterns (safetensors
// data may be unaligned, so callers load the bits bytewise or with unaligned loads).
enum MlxkScaleType { MLXK_SCALE_BF16 = 0, MLXK_SCALE_F16 = 1, MLXK_SCALE_F32 = 2 };

MLXK_INLINE int mlxk_scale_bytes(int t) { return t == MLXK_SCALE_F32 ? 4 : 2; }

#if defined(__METAL_VERSION__)
MLXK_INLINE float mlxk_f32_from_bits(mlxk_u32 u) { return as_type<float>(u); }
MLXK_INLINE float mlxk_f16_bits_to_f32(mlxk_u16 h) { return (float)as_type<half>(h); }
#else
MLXK_INLINE float mlxk_f32_from_bits(mlxk_u32 u) {
  union { mlxk_u32 u; float f; } c;
  c.u = u;
  return c.f;
}
MLXK_INLINE float mlxk_f16_bits_to_f32(mlxk_u16 h) {
  mlxk_u32 sign = (mlxk_u32)(h & 0x8000u) << 16;
  mlxk_u32 exp = (h >> 10) & 0x1fu;
  mlxk_u32 man = h & 0x3ffu;
  if (exp == 0x1fu) return mlxk_f32_from_bits(sign | 0x7f800000u | (man << 13));
  if (exp != 0) return mlxk_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
  // Subnormal half: man * 2^-24, exact in float.
  float v = (float)man * 5.9604644775390625e-8f;
  return sign ? -v : v;
}
#endif

MLXK_INLINE float mlxk_bf16_bits_to_f32(mlxk_u16 h) { return mlxk_f32_from_bits((mlxk_u32)h << 16); }

/** Element i of a scale/bias array stored as bytes `p` of dtype `t` (bytewise, alignment-free). */
template <typename P>
MLXK_INLINE float mlxk_load_scale(P p, mlxk_u64 i, int t) {
  if (t == MLXK_SCALE_F32) {
    mlxk_u32 u = (mlxk_u32)p[4 * i] | ((mlxk_u32)p[4 * i + 1] << 8) | ((mlxk_u32)p[4 * i + 2] << 16) | ((mlxk_u32)p[4 * i + 3] << 24);
    return mlxk_f32_from_bits(u);
  }
  mlxk_u16 h = (mlxk_u16)((mlxk_u32)p[2 * i] | ((mlxk_u32)p[2 * i + 1] << 8));
  return t == MLXK_SCALE_BF16 ? mlxk_bf16_bits_to_f32(h) : mlxk_f16_bits_to_f32(h);
}

#endif  // MLXK_AFFINE_H

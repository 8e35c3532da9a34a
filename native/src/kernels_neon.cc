// NEON kernels with the dot-product extension (ARMv8.2 sdot: every Apple Silicon
// core, Graviton 2+, Cortex-A76+). Compiled with +dotprod in its own library.
//
// Unpack: 16 values at a time; tbl gathers the two bytes holding each value into a
// 16-bit lane, a per-lane right shift (vshl by a negative count) and a mask leave the
// value, and a narrowing move packs the lanes to bytes in natural order. Rows are
// unpacked once into a small int8 buffer (8-bit values are stored minus 128 so they fit
// sdot's signed operands; a 128·Σx correction restores them) and dotted per 32-block.
#include <arm_neon.h>

#include <cstring>

#include "kernels.h"

namespace mlxk {
namespace {

#define MLXK_DENSE_FMA(a, b, c) __builtin_fmaf(a, b, c)
#include "dense_impl.h"

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void quantize_rows_neon(const float* x, int64_t rows, int64_t ldx, ActBuffer& act) {
  const auto block = [](const float* src, int8_t* q, int8_t* q2) {
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < 8; ++i) {
      v[i] = vld1q_f32(src + 4 * i);
      m = vmaxq_f32(m, vabsq_f32(v[i]));
    }
    const float amax = vmaxvq_f32(m);
    const float db = amax / 127.0f;
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    const float id2 = id * kPlane2Scale;
    for (int i = 0; i < 8; i += 2) {
      // vcvtnq rounds to nearest even, like nearbyint in the scalar kernel.
      const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[i], id)), q1 = vcvtnq_s32_f32(vmulq_n_f32(v[i + 1], id));
      vst1_s8(q + 4 * i, vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1))));
      if (q2) {
        const float32x4_t r0 = vsubq_f32(v[i], vmulq_n_f32(vcvtq_f32_s32(q0), db));
        const float32x4_t r1 = vsubq_f32(v[i + 1], vmulq_n_f32(vcvtq_f32_s32(q1), db));
        const int32x4_t lo = vdupq_n_s32(-127);
        const int32x4_t s0 = vmaxq_s32(vcvtnq_s32_f32(vmulq_n_f32(r0, id2)), lo);
        const int32x4_t s1 = vmaxq_s32(vcvtnq_s32_f32(vmulq_n_f32(r1, id2)), lo);
        vst1_s8(q2 + 4 * i, vqmovn_s16(vcombine_s16(vqmovn_s32(s0), vqmovn_s32(s1))));
      }
    }
    return q2 ? db / kPlane2Scale : db;
  };
  quantize_rows_with(x, rows, ldx, act, block);
}

struct Unpacker {
  uint8x16_t idx;   // byte pairs of values 0..7 of a pack, as 16-bit lanes
  int16x8_t shift;  // minus the bit offset of each value inside its pair
  uint16x8_t mask;
};

template <int B>
Unpacker make_unpacker() {
  uint8_t idx[16];
  int16_t shift[8];
  for (int i = 0; i < 8; ++i) {
    const int bit = i * B;
    idx[2 * i] = (uint8_t)(bit >> 3);
    idx[2 * i + 1] = (uint8_t)((bit >> 3) + 1);
    shift[i] = (int16_t)-(bit & 7);
  }
  return Unpacker{vld1q_u8(idx), vld1q_s16(shift), vdupq_n_u16((uint16_t)((1u << B) - 1))};
}

/** 8 values of the pack at p (B bytes; the 16-byte table read needs 16 readable bytes at p). */
template <int B>
inline uint8x8_t unpack8(const Unpacker& u, const uint8_t* p) {
  const uint8x16_t pairs = vqtbl1q_u8(vld1q_u8(p), u.idx);
  const uint16x8_t v = vandq_u16(vshlq_u16(vreinterpretq_u16_u8(pairs), u.shift), u.mask);
  return vmovn_u16(v);
}

/** A packed row → k int8 values (8-bit ones minus 128). The last packs go through a padded copy. */
template <int B>
void unpack_row(const Unpacker& u, const uint8_t* row, int64_t k, int8_t* out) {
  const int64_t packs = k / 8;
  const int64_t direct = packs > 16 / B + 1 ? packs - (16 / B + 1) : 0;  // packs whose 16-byte read stays in the row
  const uint8x8_t bias = vdup_n_u8(B == 8 ? 128 : 0);
  for (int64_t j = 0; j < direct; ++j) vst1_s8(out + 8 * j, vreinterpret_s8_u8(vsub_u8(unpack8<B>(u, row + B * j), bias)));
  uint8_t tail[16 * 8 + 16] = {0};
  std::memcpy(tail, row + B * direct, (size_t)(B * (packs - direct)));
  for (int64_t j = direct; j < packs; ++j)
    vst1_s8(out + 8 * j, vreinterpret_s8_u8(vsub_u8(unpack8<B>(u, tail + B * (j - direct)), bias)));
}

void load_scales(const uint8_t* p, int64_t count, int t, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = mlxk_load_scale(p, (mlxk_u64)i, t);
}

constexpr int kRows = 4;

using Scratch = UnpackedRows<int8_t, kRows>;

template <int B>
float dot_row(const int8_t* wq, const float* s, const float* b, int64_t k, int gs, const ActRow& a) {
  const int64_t groups = k / gs;
  const int blocks_per_group = gs / kActBlock;
  float acc = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    float gacc = 0.0f;
    for (int jb = 0; jb < blocks_per_group; ++jb) {
      const int64_t j = g * blocks_per_group + jb;
      const int8x16_t w0 = vld1q_s8(wq + 32 * j), w1 = vld1q_s8(wq + 32 * j + 16);
      const int8x16_t x0 = vld1q_s8(a.q + 32 * j), x1 = vld1q_s8(a.q + 32 * j + 16);
      int32_t total = vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1));
      if (B == 8) total += 128 * (vaddlvq_s8(x0) + vaddlvq_s8(x1));
      if (a.q2) {
        const int8x16_t y0 = vld1q_s8(a.q2 + 32 * j), y1 = vld1q_s8(a.q2 + 32 * j + 16);
        int32_t t2 = vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, y0), w1, y1));
        if (B == 8) t2 += 128 * (vaddlvq_s8(y0) + vaddlvq_s8(y1));
        total = total * (int32_t)kPlane2Scale + t2;
      }
      gacc += a.d[j] * (float)total;
    }
    acc += s[g] * gacc + b[g] * a.sx[g];
  }
  return acc;
}

template <int B>
void rows_bits(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
               void* scratch) {
  const Unpacker u = make_unpacker<B>();
  const Scratch sc = Scratch::at(scratch, w.k, w.group_size);
  const int64_t groups = w.k / w.group_size, kpad = pad64(w.k);
  for (int64_t n = n0; n < n1; n += kRows) {
    const int rows = (int)min64(kRows, n1 - n);
    sc.fill(w, n, rows, [&](const uint8_t* row, int8_t* out) { unpack_row<B>(u, row, w.k, out); }, load_scales);
    for (int m = 0; m < mcount; ++m)
      for (int r = 0; r < rows; ++r)
        out[m][n + r] = dot_row<B>(sc.q + r * kpad, sc.s + r * groups, sc.b + r * groups, w.k, w.group_size, acts[m]);
  }
}

void rows_neon(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
               void* s) {
  with_bits(w.bits, [&](auto b) { rows_bits<b.value>(w, acts, mcount, out, n0, n1, s); });
}

double read_pass_neon(const uint8_t* p, size_t bytes) {
  uint64x2_t a0 = vdupq_n_u64(0), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 64 <= bytes; i += 64) {
    a0 = vaddq_u64(a0, vld1q_u64((const uint64_t*)(p + i)));
    a1 = vaddq_u64(a1, vld1q_u64((const uint64_t*)(p + i + 16)));
    a2 = vaddq_u64(a2, vld1q_u64((const uint64_t*)(p + i + 32)));
    a3 = vaddq_u64(a3, vld1q_u64((const uint64_t*)(p + i + 48)));
  }
  return (double)vaddvq_u64(vaddq_u64(vaddq_u64(a0, a1), vaddq_u64(a2, a3)));
}

const Kernels kNeon = {
    "neon", quantize_rows_neon, rows_neon, rows_neon, kRows, Scratch::bytes, read_pass_neon, dense_rows, attend_portable,
};

}  // namespace

const Kernels& neon_kernels() { return kNeon; }

}  // namespace mlxk

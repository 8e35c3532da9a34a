// Portable kernels: the reference for the SIMD ones (same int8 activation
// scheme, same integer block sums) and the fallback on any CPU. The packed
// weights are decoded with the shared mlxk_affine.h math.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "simd_clones.h"

namespace mlxk {
namespace {

#define MLXK_DENSE_FMA(a, b, c) ((a) * (b) + (c))
#include "dense_impl.h"

void quantize_rows_scalar(const float* x, int64_t rows, int64_t ldx, ActBuffer& act) {
  const auto block = [](const float* v, int8_t* q, int8_t* q2) {
    float amax = 0.0f;
    for (int i = 0; i < kActBlock; ++i) amax = std::fmax(amax, std::fabs(v[i]));
    const float db = amax / 127.0f;
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < kActBlock; ++i) q[i] = (int8_t)std::nearbyint(v[i] * id);
    if (!q2) return db;
    const float id2 = id * kPlane2Scale;
    for (int i = 0; i < kActBlock; ++i) {
      const float r = v[i] - db * (float)q[i];
      const float c = std::nearbyint(r * id2);
      q2[i] = (int8_t)(c > 127.0f ? 127.0f : c < -127.0f ? -127.0f : c);
    }
    return db / kPlane2Scale;
  };
  quantize_rows_with(x, rows, ldx, act, block);
}

template <int B>
void unpack_row(const uint8_t* row, int64_t k, uint8_t* out) {
  for (int64_t j = 0; j < k / MLXK_PACK_VALUES; ++j) {
    const mlxk_u64 pack = mlxk_load_pack<B>(row, j);
    for (int i = 0; i < MLXK_PACK_VALUES; ++i) out[j * MLXK_PACK_VALUES + i] = (uint8_t)mlxk_pack_value<B>(pack, i);
  }
}

void unpack_row_any(int bits, const uint8_t* row, int64_t k, uint8_t* out) {
  with_bits(bits, [&](auto b) { unpack_row<b.value>(row, k, out); });
}

// One weight row unpacked to bytes, reused for every activation row.
void rows_kernel(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 uint8_t* qbuf, float* sbuf, float* bbuf) {
  const int64_t k = w.k, groups = k / w.group_size;
  const int blocks_per_group = w.group_size / kActBlock;
  for (int64_t n = n0; n < n1; ++n) {
    unpack_row_any(w.bits, w.w + n * row_bytes(w), k, qbuf);
    const uint8_t* srow = w.scales + n * scale_row_bytes(w);
    const uint8_t* brow = w.biases + n * scale_row_bytes(w);
    for (int64_t g = 0; g < groups; ++g) {
      sbuf[g] = mlxk_load_scale(srow, g, w.scale_type);
      bbuf[g] = mlxk_load_scale(brow, g, w.scale_type);
    }
    for (int m = 0; m < mcount; ++m) {
      const ActRow& a = acts[m];
      float acc = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        float gacc = 0.0f;
        for (int jb = 0; jb < blocks_per_group; ++jb) {
          const int64_t j = g * blocks_per_group + jb;
          const uint8_t* qb = qbuf + j * kActBlock;
          const int8_t* xb = a.q + j * kActBlock;
          int32_t isum = 0;
          for (int i = 0; i < kActBlock; ++i) isum += (int32_t)qb[i] * (int32_t)xb[i];
          if (a.q2) {
            const int8_t* x2 = a.q2 + j * kActBlock;
            isum *= (int32_t)kPlane2Scale;
            for (int i = 0; i < kActBlock; ++i) isum += (int32_t)qb[i] * (int32_t)x2[i];
          }
          gacc += a.d[j] * (float)isum;
        }
        acc += sbuf[g] * gacc + bbuf[g] * a.sx[g];
      }
      out[m][n] = acc;
    }
  }
}

size_t scratch_bytes(int64_t k, int group_size) {
  return (size_t)k + 2 * sizeof(float) * (size_t)(k / group_size) + 64;
}

void gemm_scalar(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 void* scratch) {
  uint8_t* qbuf = static_cast<uint8_t*>(scratch);
  float* sbuf = reinterpret_cast<float*>(qbuf + (w.k + 63) / 64 * 64);
  float* bbuf = sbuf + w.k / w.group_size;
  rows_kernel(w, acts, mcount, out, n0, n1, qbuf, sbuf, bbuf);
}

double read_pass_scalar(const uint8_t* p, size_t bytes) {
  uint64_t acc = 0;
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    acc += v;
  }
  return (double)acc;
}

const Kernels kScalar = {
    "scalar", quantize_rows_scalar, gemm_scalar, gemm_scalar, 1, scratch_bytes, read_pass_scalar, dense_rows, attend_portable,
};

}  // namespace

// Written for the vectorizer (16 independent lane sums per dot product), walking long caches in
// L2-sized spans with the softmax kept online as the SIMD kernels do (kernels.h attend_in_spans):
// NEON and any CPU without its own kernel read each row from memory once. AVX-512 and AVX2 have
// their own (kernels_avx512_attend.cc, kernels_avx2_attend.cc).
#define MLXK_INLINE_LAMBDA __attribute__((always_inline))
MLXK_SIMD_CLONES
void attend_portable(const AttendBlock& a) {
  const int64_t d = a.d, nh = a.nh, visible = a.visible, dv = a.dv;
  const auto scores = [&](int64_t s0, int64_t s1) MLXK_INLINE_LAMBDA {
    // The row is read once for all heads of the block.
    for (int64_t s = s0; s < s1; ++s) {
      const float* kr = a.k + s * a.k_stride;
      for (int64_t h = 0; h < nh; ++h) {
        const float* qh = a.q + h * d;
        float lanes[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= d; i += 16)
          for (int l = 0; l < 16; ++l) lanes[l] += qh[i + l] * kr[i + l];
        float sum = 0.0f;
        for (int l = 0; l < 16; ++l) sum += lanes[l];
        for (; i < d; ++i) sum += qh[i] * kr[i];
        a.scores[h * visible + s] = sum * a.scale;
      }
    }
  };
  const auto max_of = [](const float* sc, int64_t n) MLXK_INLINE_LAMBDA {
    float m = -INFINITY;
    for (int64_t s = 0; s < n; ++s) m = std::max(m, sc[s]);
    return m;
  };
  const auto exp_sum = [](float* sc, int64_t n, float m) MLXK_INLINE_LAMBDA {
    float z = 0.0f;
    for (int64_t s = 0; s < n; ++s) z += sc[s] = std::exp(sc[s] - m);
    return z;
  };
  const auto scale = [](float* v, int64_t n, float f) MLXK_INLINE_LAMBDA {
    for (int64_t i = 0; i < n; ++i) v[i] *= f;
  };
  const auto values = [&](int64_t s0, int64_t s1) MLXK_INLINE_LAMBDA {
    for (int64_t s = s0; s < s1; ++s) {
      const float* vr = a.v + s * a.v_stride;
      for (int64_t h = 0; h < nh; ++h) {
        const float p = a.scores[h * visible + s];
        float* o = a.out + h * dv;
        for (int64_t i = 0; i < dv; ++i) o[i] += p * vr[i];
      }
    }
  };
  attend_in_spans(a, scores, max_of, exp_sum, scale, values);
}

const Kernels& scalar_kernels() { return kScalar; }

}  // namespace mlxk

// Helpers shared by the AVX2 kernel files (kernels_avx2.cc, kernels_avx2_gemv.cc), which are
// compiled with AVX2 flags in their own library. Internal linkage only: see kernels.h.
#pragma once
#include <immintrin.h>

#include "kernels.h"

namespace mlxk {
namespace avx2 {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/** count scales (or biases) of dtype t at p → floats. */
inline void load_scales(const uint8_t* p, int64_t count, int t, float* out) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m256 v;
    if (t == MLXK_SCALE_F32) {
      v = _mm256_loadu_ps((const float*)(p + 4 * i));
    } else {
      const __m128i h = _mm_loadu_si128((const __m128i*)(p + 2 * i));
      v = t == MLXK_SCALE_BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
    }
    _mm256_storeu_ps(out + i, v);
  }
  for (; i < count; ++i) out[i] = mlxk_load_scale(p, (mlxk_u64)i, t);
}

}  // namespace

/** GEMV (M ≤ kGemvMaxM) for 2-, 3-, 4- and 8-bit weights: kernels_avx2_gemv.cc. */
bool gemv_handles(int bits);
void gemv(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* scratch);
size_t gemv_scratch_bytes(int64_t k, int gs);

/** Dense bf16 products (kernels.h Kernels::dense) when dense_handles: kernels_avx2_dense.cc. */
bool dense_handles(const DenseMatrix& w);
void dense(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1);

/** Attention of a block of query heads (kernels.h AttendBlock): kernels_avx2_attend.cc. */
void attend(const AttendBlock& a);

}  // namespace avx2
}  // namespace mlxk

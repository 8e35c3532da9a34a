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

}  // namespace

/** GEMV (M ≤ kGemvMaxM) for every width, on the packed bytes: kernels_avx2_gemv.cc. */
void gemv(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* scratch);
size_t gemv_scratch_bytes(int64_t k, int gs);

/** Dense bf16 products (kernels.h Kernels::dense) when dense_handles: kernels_avx2_dense.cc. */
bool dense_handles(const DenseMatrix& w);
void dense(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1);

/** Attention of a block of query heads (kernels.h AttendBlock): kernels_avx2_attend.cc. */
void attend(const AttendBlock& a);

}  // namespace avx2
}  // namespace mlxk

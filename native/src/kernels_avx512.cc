// AVX-512 kernels (F, BW, VL, DQ, VNNI, VBMI: Ice Lake and later, Zen 4 and later):
// activation quantization, bandwidth pass and the kernel table; GEMV in
// kernels_avx512_gemv.cc, GEMM and dense in kernels_avx512_gemm.cc. These files are
// compiled with AVX-512 flags in their own library and use no std:: templates, so no
// AVX-512 code can be shared with (and run by) the portable files.
#include "avx512_common.h"

namespace mlxk {
namespace avx512 {
namespace {

// ---- activations ---------------------------------------------------------

void quantize_rows_avx512(const float* x, int64_t rows, int64_t ldx, ActBuffer& act) {
  const auto block = [](const float* v, int8_t* q, int8_t* q2) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
    const float db = amax / 127.0f, ids = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m512 id = _mm512_set1_ps(ids);
    // cvtps2dq rounds to nearest even, like nearbyint in the scalar kernel.
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    _mm_storeu_si128((__m128i*)q, _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128((__m128i*)(q + 16), _mm512_cvtsepi32_epi8(q1));
    if (!q2) return db;
    const __m512 dv = _mm512_set1_ps(db), id2 = _mm512_set1_ps(ids * kPlane2Scale);
    const __m512i lo = _mm512_set1_epi32(-127);
    const __m512i r0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(v0, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(q0))), id2));
    const __m512i r1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(v1, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(q1))), id2));
    _mm_storeu_si128((__m128i*)q2, _mm512_cvtsepi32_epi8(_mm512_max_epi32(r0, lo)));
    _mm_storeu_si128((__m128i*)(q2 + 16), _mm512_cvtsepi32_epi8(_mm512_max_epi32(r1, lo)));
    return db / kPlane2Scale;
  };
  quantize_rows_with(x, rows, ldx, act, block);
}

// ---- bandwidth -----------------------------------------------------------------

double read_pass_avx512(const uint8_t* p, size_t bytes) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  const uint8_t* last = p + bytes - 1;
  for (; i + 256 <= bytes; i += 256) {
    for (int line = 0; line < 256; line += 64) prefetch_within(p + i + kPrefetchBytes + line, last);
    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 64));
    a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 128));
    a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 192));
  }
  const __m512i t = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
  return (double)_mm512_reduce_add_epi64(t);
}

size_t scratch_bytes(int64_t k, int gs) {
  const size_t a = gemv_scratch_bytes(k, gs), b = gemm_scratch_bytes(k, gs);
  return (a > b ? a : b) + 64;
}

constexpr int kPanelRows = 32;  // kernels_avx512_gemm.cc's panel height

// attend: kernels_avx512_attend.cc. It was held out of the table for a while because
// test/server/serveModels saw one greedy token change after a prompt-cache hit; that was a
// near-tie (margin 0.007–0.10 logits) under int8 activations' rounding flips, which move the
// logits by ~0.4 between a full prefill and a cached prefix with either kernel (issue 14).
const Kernels kAvx512 = {
    "avx512", quantize_rows_avx512, gemv, gemm, kPanelRows, scratch_bytes, read_pass_avx512, dense, attend,
};

}  // namespace
}  // namespace avx512

const Kernels& avx512_kernels() { return avx512::kAvx512; }

}  // namespace mlxk

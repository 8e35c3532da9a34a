// AVX2 attention of a block of query heads over one sequence's keys and values (the contract and
// the portable version: kernels.h, kernels_scalar.cc); the AVX-512 one (kernels_avx512_attend.cc)
// in 8-lane vectors, with masked loads (vmaskmovps) for widths that are not a multiple of 8:
//   scores: 2 heads × 4 key rows per step, 8 accumulators, each q and key chunk loaded once per tile;
//   softmax: vector max, exp (Cephes' expf polynomial) and sum;
//   values:  16 output values of 4 heads in registers while the value rows stream past;
//   keys in spans that stay in L2, the softmax kept online (kernels.h attend_in_spans).
#include <cmath>

#include "avx2_common.h"

namespace mlxk {
namespace avx2 {
namespace {

inline __m256i first_lanes(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count < 8 ? count : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/** e^x, x ≤ 0 (softmax inputs after the max is subtracted; clamped at −87, whose 2^n is still normal): kernels.h kExp*. */
inline __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kExpLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  // 2^n from its exponent bits: n ≥ −126 after the clamp.
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/** Scores of NH heads (q rows d apart) against 4 key rows from k (KR = 4) or 1 (KR = 1). */
template <int NH, int KR>
inline void score_tile(const AttendBlock& a, const float* q, const float* k, float* scores, int64_t s) {
  __m256 acc[NH][KR];
  for (int h = 0; h < NH; ++h)
    for (int j = 0; j < KR; ++j) acc[h][j] = _mm256_setzero_ps();
  int64_t i = 0;
  const auto step = [&](auto load) {
    __m256 kv[KR];
    for (int j = 0; j < KR; ++j) kv[j] = load(k + j * a.k_stride + i);
    for (int h = 0; h < NH; ++h) {
      const __m256 qv = load(q + h * a.d + i);
      for (int j = 0; j < KR; ++j) acc[h][j] = _mm256_fmadd_ps(qv, kv[j], acc[h][j]);
    }
  };
  for (; i + 8 <= a.d; i += 8) step([](const float* p) { return _mm256_loadu_ps(p); });
  if (i < a.d) {
    const __m256i m = first_lanes(a.d - i);
    step([m](const float* p) { return _mm256_maskload_ps(p, m); });
  }
  for (int h = 0; h < NH; ++h) {
    float* out = scores + h * a.visible + s;
    if constexpr (KR == 4) {
      // hadd twice leaves each key's sum of a 128-bit half in lane j of that half.
      const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(acc[h][0], acc[h][1]), _mm256_hadd_ps(acc[h][2], acc[h][3]));
      _mm_storeu_ps(out, _mm_mul_ps(_mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)), _mm_set1_ps(a.scale)));
    } else {
      *out = hsum8(acc[h][0]) * a.scale;
    }
  }
}

template <int NH>
void scores_span(const AttendBlock& a, const float* q, float* scores, int64_t s0, int64_t s1) {
  for_key_tiles(s1 - s0, [&](auto kr, int64_t s) { score_tile<NH, kr.value>(a, q, a.k + (s0 + s) * a.k_stride, scores, s0 + s); });
}

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

float max_of(const float* sc, int64_t n) {
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sc + i));
  float m = hmax8(mx);
  for (int64_t j = i; j < n; ++j) m = std::max(m, sc[j]);
  return m;
}

/** sc[i] ← e^(sc[i] − m) for i < n (every sc[i] ≤ m), returning their sum. */
float exp_sum(float* sc, int64_t n, float m) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 z = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(sc + i), mv));
    _mm256_storeu_ps(sc + i, e);
    z = _mm256_add_ps(z, e);
  }
  if (i < n) {
    // The tail through the same polynomial, the lanes past n masked out of the result.
    const __m256i k = first_lanes(n - i);
    const __m256 e = _mm256_and_ps(exp_nonpositive(_mm256_sub_ps(_mm256_maskload_ps(sc + i, k), mv)), _mm256_castsi256_ps(k));
    _mm256_maskstore_ps(sc + i, k, e);
    z = _mm256_add_ps(z, e);
  }
  return hsum8(z);
}

/** v[i] ← v[i] · f for i < n. */
void scale_row(float* v, int64_t n, float f) {
  const __m256 fv = _mm256_set1_ps(f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_loadu_ps(v + i), fv));
  if (i < n) {
    const __m256i k = first_lanes(n - i);
    _mm256_maskstore_ps(v + i, k, _mm256_mul_ps(_mm256_maskload_ps(v + i, k), fv));
  }
}

/**
 * out[h][c .. c+16) += Σ_{s0 ≤ s < s1} p[h][s] · v[s][c .. c+16) for heads h0 … h0+NH−1 (masked past dv
 * unless FULL); out holds zeros before the first span.
 */
template <int NH, bool FULL>
__attribute__((always_inline)) inline void values_chunk(const AttendBlock& a, int64_t h0, int64_t c, int64_t s0, int64_t s1) {
  const __m256i m0 = first_lanes(a.dv - c), m1 = first_lanes(a.dv - c - 8 > 0 ? a.dv - c - 8 : 0);
  __m256 acc[NH][2];
  for (int h = 0; h < NH; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
  const float* vr = a.v + s0 * a.v_stride + c;
  const float* p = a.scores + h0 * a.visible;
  for (int64_t s = s0; s < s1; ++s, vr += a.v_stride) {
    const __m256 v0 = FULL ? _mm256_loadu_ps(vr) : _mm256_maskload_ps(vr, m0);
    const __m256 v1 = FULL ? _mm256_loadu_ps(vr + 8) : _mm256_maskload_ps(vr + 8, m1);
    for (int h = 0; h < NH; ++h) {
      const __m256 ph = _mm256_broadcast_ss(p + h * a.visible + s);
      acc[h][0] = _mm256_fmadd_ps(ph, v0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(ph, v1, acc[h][1]);
    }
  }
  // The span's sums added to the earlier spans' (zeros before the first): loaded only after the
  // loop, and unconditionally, or GCC keeps the accumulators on the stack inside it.
  for (int h = 0; h < NH; ++h) {
    float* o = a.out + (h0 + h) * a.dv + c;
    _mm256_maskstore_ps(o, m0, _mm256_add_ps(acc[h][0], _mm256_maskload_ps(o, m0)));
    _mm256_maskstore_ps(o + 8, m1, _mm256_add_ps(acc[h][1], _mm256_maskload_ps(o + 8, m1)));
  }
}

template <int NH>
void values_span(const AttendBlock& a, int64_t h0, int64_t s0, int64_t s1) {
  int64_t c = 0;
  for (; c + 16 <= a.dv; c += 16) values_chunk<NH, true>(a, h0, c, s0, s1);
  if (c < a.dv) values_chunk<NH, false>(a, h0, c, s0, s1);
}

template <int NH>
void attend_heads(const AttendBlock& a) {
  // Four heads' 16 values are 8 accumulators: sixteen ymm registers hold no more.
  constexpr int kFirst = NH < 4 ? NH : 4;
  attend_in_spans<NH>(
      a,
      [&](int64_t s0, int64_t s1) {
        for_head_pairs<NH>([&](auto nh, int64_t h) { scores_span<nh.value>(a, a.q + h * a.d, a.scores + h * a.visible, s0, s1); });
      },
      max_of, exp_sum, scale_row,
      [&](int64_t s0, int64_t s1) {
        values_span<kFirst>(a, 0, s0, s1);
        if constexpr (NH > 4) values_span<NH - 4>(a, 4, s0, s1);
      });
}

}  // namespace

void attend(const AttendBlock& a) {
  with_heads(a.nh, [&](auto nh) { attend_heads<nh.value>(a); });
}

}  // namespace avx2
}  // namespace mlxk

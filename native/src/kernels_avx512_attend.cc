// AVX-512 attention of a block of query heads over one sequence's keys and values (the contract
// and the portable version: kernels.h, kernels_scalar.cc). Decode attends one query row per
// sequence over its whole cache, so the work is dot products against key rows, a softmax and a
// weighted sum of value rows; here each is vector arithmetic:
//   scores: 2 heads × 4 key rows per step, 8 accumulators, each q chunk and key chunk loaded once
//           for the tile; the 4 sums of a head reduced together (one shuffle tree, not 4);
//   softmax: vector max, exp (Cephes' expf polynomial, ≤ 2 ulp) and sum;
//   values:  32 output values of every head of the block in registers while the value rows
//            stream past, one broadcast probability per head and row;
//   keys in spans that stay in L2, the softmax kept online (kernels.h attend_in_spans).
#include <cmath>

#include "avx512_common.h"

namespace mlxk {
namespace avx512 {
namespace {

/** e^x, x ≤ 0 (softmax inputs after the max is subtracted; below −87 the result flushes toward 0). */
inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kExpLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(y, n);
}

/** The lane sums of a0..a3 as the 4 floats of the result. */
inline __m128 sum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  const __m512 x01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
  const __m512 x23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
  const __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(x01), _mm512_castps_pd(x23));
  const __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(x01), _mm512_castps_pd(x23));
  __m512 y = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));  // per 128-bit lane: a0, a1, a2, a3
  y = _mm512_add_ps(y, _mm512_shuffle_f32x4(y, y, 0x4e));
  y = _mm512_add_ps(y, _mm512_shuffle_f32x4(y, y, 0xb1));
  return _mm512_castps512_ps128(y);
}

/** Scores of NH heads (q rows d apart) against 4 key rows from k (KR = 4) or 1 (KR = 1). */
template <int NH, int KR>
inline void score_tile(const AttendBlock& a, const float* q, const float* k, float* scores, int64_t s) {
  __m512 acc[NH][KR];
  for (int h = 0; h < NH; ++h)
    for (int j = 0; j < KR; ++j) acc[h][j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < a.d; i += 16) {
    const __mmask16 m = first_lanes(a.d - i);
    __m512 kv[KR];
    for (int j = 0; j < KR; ++j) kv[j] = _mm512_maskz_loadu_ps(m, k + j * a.k_stride + i);
    for (int h = 0; h < NH; ++h) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, q + h * a.d + i);
      for (int j = 0; j < KR; ++j) acc[h][j] = _mm512_fmadd_ps(qv, kv[j], acc[h][j]);
    }
  }
  for (int h = 0; h < NH; ++h) {
    float* out = scores + h * a.visible + s;
    if constexpr (KR == 4) {
      _mm_storeu_ps(out, _mm_mul_ps(sum4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]), _mm_set1_ps(a.scale)));
    } else {
      *out = _mm512_reduce_add_ps(acc[h][0]) * a.scale;
    }
  }
}

template <int NH>
void scores_span(const AttendBlock& a, const float* q, float* scores, int64_t s0, int64_t s1) {
  for_key_tiles(s1 - s0, [&](auto kr, int64_t s) { score_tile<NH, kr.value>(a, q, a.k + (s0 + s) * a.k_stride, scores, s0 + s); });
}

float max_of(const float* sc, int64_t n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), first_lanes(n - i), sc + i));
  return _mm512_reduce_max_ps(mx);
}

/** sc[i] ← e^(sc[i] − m) for i < n (every sc[i] ≤ m), returning their sum. */
float exp_sum(float* sc, int64_t n, float m) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512 z = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = first_lanes(n - i);
    const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, sc + i), mv));
    _mm512_mask_storeu_ps(sc + i, k, e);
    z = _mm512_add_ps(z, _mm512_maskz_mov_ps(k, e));
  }
  return _mm512_reduce_add_ps(z);
}

/** v[i] ← v[i] · f for i < n. */
void scale_row(float* v, int64_t n, float f) {
  const __m512 fv = _mm512_set1_ps(f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = first_lanes(n - i);
    _mm512_mask_storeu_ps(v + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, v + i), fv));
  }
}

/** out[h][c .. c+32) += Σ_{s0 ≤ s < s1} p[h][s] · v[s][c .. c+32) for NH heads; out holds zeros before the first span. */
template <int NH>
void values_span(const AttendBlock& a, int64_t s0, int64_t s1) {
  for (int64_t c = 0; c < a.dv; c += 32) {
    const __mmask16 m0 = first_lanes(a.dv - c), m1 = a.dv - c > 16 ? first_lanes(a.dv - c - 16) : 0;
    __m512 acc[NH][2];
    for (int h = 0; h < NH; ++h) acc[h][0] = acc[h][1] = _mm512_setzero_ps();
    const float* vr = a.v + s0 * a.v_stride + c;
    for (int64_t s = s0; s < s1; ++s, vr += a.v_stride) {
      const __m512 v0 = _mm512_maskz_loadu_ps(m0, vr), v1 = _mm512_maskz_loadu_ps(m1, vr + 16);
      for (int h = 0; h < NH; ++h) {
        const __m512 p = _mm512_set1_ps(a.scores[h * a.visible + s]);
        acc[h][0] = _mm512_fmadd_ps(p, v0, acc[h][0]);
        acc[h][1] = _mm512_fmadd_ps(p, v1, acc[h][1]);
      }
    }
    // Added to the earlier spans' sums after the loop, so the accumulators stay in registers in it.
    for (int h = 0; h < NH; ++h) {
      float* o = a.out + h * a.dv + c;
      _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(acc[h][0], _mm512_maskz_loadu_ps(m0, o)));
      _mm512_mask_storeu_ps(o + 16, m1, _mm512_add_ps(acc[h][1], _mm512_maskz_loadu_ps(m1, o + 16)));
    }
  }
}

template <int NH>
void attend_heads(const AttendBlock& a) {
  // 8 heads' 32 values are 16 of the 32 zmm registers: every head of a block in one pass over the rows.
  attend_in_spans<NH>(
      a,
      [&](int64_t s0, int64_t s1) {
        for_head_pairs<NH>([&](auto nh, int64_t h) { scores_span<nh.value>(a, a.q + h * a.d, a.scores + h * a.visible, s0, s1); });
      },
      max_of, exp_sum, scale_row, [&](int64_t s0, int64_t s1) { values_span<NH>(a, s0, s1); });
}

}  // namespace

void attend(const AttendBlock& a) {
  with_heads(a.nh, [&](auto nh) { attend_heads<nh.value>(a); });
}

}  // namespace avx512
}  // namespace mlxk

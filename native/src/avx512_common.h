// Helpers shared by the AVX-512 kernel files (compiled with the same flags in one
// static library); the files' entry points are declared at the end.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "kernels.h"

namespace mlxk {
namespace avx512 {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- unpack ----------------------------------------------------------------
// For every width B the 8 values of a pack are B whole bytes, so one vpermb places
// pack j's bytes in qword j and one vpmultishiftqb pulls the 8 B-bit fields out as
// bytes: 64 values in natural order from a masked load and 3 instructions.

struct Unpacker {
  __m512i perm, shift, mask;
};

template <int B>
Unpacker make_unpacker() {
  alignas(64) uint8_t perm[64], shift[64];
  for (int j = 0; j < 8; ++j) {
    for (int i = 0; i < 8; ++i) {
      const int src = B * j + i;
      perm[8 * j + i] = (uint8_t)(src < 64 ? src : 63);
      shift[8 * j + i] = (uint8_t)(B * i);
    }
  }
  return Unpacker{_mm512_load_si512(perm), _mm512_load_si512(shift), _mm512_set1_epi8((char)((1 << B) - 1))};
}

/** 64 values (or the first 32 when `half`) of a packed row starting at value 0 of `p`. */
template <int B>
inline __m512i unpack64(const Unpacker& u, const uint8_t* p, __mmask64 load_mask) {
  const __m512i raw = _mm512_maskz_loadu_epi8(load_mask, p);
  if (B == 8) return raw;
  const __m512i g = _mm512_permutexvar_epi8(u.perm, raw);
  return _mm512_and_si512(_mm512_multishift_epi64_epi8(u.shift, g), u.mask);
}

template <int B>
inline __mmask64 chunk_mask(int64_t values) {
  const int bytes = (int)(values * B / 8);
  return bytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << bytes) - 1);
}

// ---- scales ----------------------------------------------------------------

/** Mask of the first min(count, 16) lanes. */
inline __mmask16 first_lanes(int64_t count) {
  return (__mmask16)(count >= 16 ? 0xffff : (1u << count) - 1);
}

/** Elements i … i+15 of bf16/f16/f32 data `p` (any alignment) as floats; lanes outside m are 0. */
inline __m512 load_f32x16(const uint8_t* p, int64_t i, __mmask16 m, int t) {
  if (t == MLXK_SCALE_F32) return _mm512_maskz_loadu_ps(m, p + 4 * i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, p + 2 * i);
  return t == MLXK_SCALE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
}

/** count scale/bias elements of type t at p (any alignment) → float out. */
inline void load_scales(const uint8_t* p, int64_t count, int t, float* out) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = first_lanes(count - i);
    _mm512_mask_storeu_ps(out + i, m, load_f32x16(p, i, m, t));
  }
}

// Lanes 0-7 of a 64-value chunk's vpdpbusd result cover block 2c, lanes 8-15 block 2c+1.
inline __m512 block_pair_lanes(const float* v, __mmask16 m) {
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(m, v));
}

constexpr int kGemvRows = 4;

/** out[m][n … n+3] = the lane sums of acc[m][0 … 3], by one add tree. */
template <int M>
__attribute__((always_inline)) inline void store_row_sums4(__m512 (&acc)[M][kGemvRows], float* const* out, int64_t n) {
  unrolled<M>([&](auto m) {
    __m256 h[4];
    unrolled<4>([&](auto r) {
      h[r] = _mm256_add_ps(_mm512_castps512_ps256(acc[m][r]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[m][r]), 1)));
    });
    // hadd(h0, h1) = [h0 pairs, h1 pairs] per 128-bit half; twice gives each row's 4-sum per half.
    const __m256 q = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
    _mm_storeu_ps(out[m] + n, _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1)));
  });
}

/** out[m][n … n+R−1] = the lane sums of acc[m][0 … R−1]: 4 rows at a time by store_row_sums4, other counts one by one. */
template <int M, int R>
__attribute__((always_inline)) inline void store_tile(__m512 (&acc)[M][R], float* const* out, int64_t n) {
  if constexpr (R % kGemvRows == 0) {
    unrolled<R / kGemvRows>([&](auto g) {
      __m512 quad[M][kGemvRows];
      unrolled<M>([&](auto m) { unrolled<kGemvRows>([&](auto r) { quad[m][r] = acc[m][kGemvRows * g + r]; }); });
      store_row_sums4<M>(quad, out, n + kGemvRows * g);
    });
  } else {
    unrolled<M>([&](auto m) { unrolled<R>([&](auto r) { out[m][n + r] = _mm512_reduce_add_ps(acc[m][r]); }); });
  }
}

// Weight rows are streamed from DRAM; the hardware prefetcher alone keeps too few
// lines in flight (it stops at page boundaries), so each chunk step also prefetches
// the same share of the bytes kPrefetchBytes ahead in the matrix.
// 16 KiB measured best on Zen 4/5 (4 KiB: -10 %, none: -45 %).
constexpr int kPrefetchBytes = 16384;
constexpr int kScalePrefetchTiles = 8;

}  // namespace

size_t gemv_scratch_bytes(int64_t k, int gs);
void gemv(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s);
size_t gemm_scratch_bytes(int64_t k, int gs);
void gemm(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s);
void dense(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1);
void attend(const AttendBlock& a);

}  // namespace avx512
}  // namespace mlxk

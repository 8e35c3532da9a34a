// AVX-512 GEMV (M ≤ 4, decode). 4 weight rows at a time: vpdpbusd of unpacked bytes with
// the int8 activations, per-lane (scale · block scale) applied once per 64 values, and a
// software prefetch 16 KiB ahead. 2- and 4-bit take the "whole 64-byte lines" path below,
// which needs no byte permute.
#include "avx512_common.h"

namespace mlxk {
namespace avx512 {
namespace {

// Scales and biases of rows n … n+R−1 into s/b (row r at r·stride), prefetching those of the
// tiles kScalePrefetchTiles ahead: the weight prefetch alone leaves the scale lines cold.
template <int R>
inline void prefetch_scales(const QuantMatrix& w, int64_t n) {
  const size_t srb = scale_row_bytes(w);
  const uint8_t* ps = w.scales + (n + R * kScalePrefetchTiles) * srb;
  const uint8_t* pb = w.biases + (n + R * kScalePrefetchTiles) * srb;
  for (size_t off = 0; off < R * srb; off += 64) {
    _mm_prefetch((const char*)ps + off, _MM_HINT_T0);
    _mm_prefetch((const char*)pb + off, _MM_HINT_T0);
  }
}

// Scales of rows n … n+R−1 as floats into s (row r at r·stride); the biases are read where they
// lie by finish_tile, once per row.
template <int R>
inline void tile_scales(const QuantMatrix& w, int64_t n, int64_t groups, float* s, int64_t stride) {
  prefetch_scales<R>(w, n);
  const size_t srb = scale_row_bytes(w);
  for (int r = 0; r < R; ++r) load_scales(w.scales + (n + r) * srb, groups, w.scale_type, s + r * stride);
}

// The end of a tile: out[m][n + r] = Σ lanes of acc[m][r] + Σ_g bias[r][g]·Σx[m][g]. The bias term
// is folded into the accumulator and a tile of 4 rows is reduced by one add tree into 4 adjacent
// outputs: at k = 256 these two horizontal sums per row cost as much as the row's products.
template <int M, int R>
inline void finish_tile(__m512 (&acc)[M][R], const QuantMatrix& w, int64_t groups, const ActRow* acts, float* const* out, int64_t n) {
  const size_t srb = scale_row_bytes(w);
  for (int r = 0; r < R; ++r)
    for (int64_t g = 0; g < groups; g += 16) {
      const __mmask16 lanes = first_lanes(groups - g);
      const __m512 b = load_f32x16(w.biases + (n + r) * srb, g, lanes, w.scale_type);
      for (int m = 0; m < M; ++m) acc[m][r] = _mm512_fmadd_ps(b, _mm512_maskz_loadu_ps(lanes, acts[m].sx + g), acc[m][r]);
    }
  for (int m = 0; m < M; ++m) {
    if (R != 4) {
      for (int r = 0; r < R; ++r) out[m][n + r] = _mm512_reduce_add_ps(acc[m][r]);
      continue;
    }
    __m256 h[4];
    for (int r = 0; r < 4; ++r) {
      const __m512 a = acc[m][r < R ? r : 0];
      h[r] = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    }
    // hadd(h0, h1) = [h0 pairs, h1 pairs] per 128-bit half; twice gives each row's 4-sum per half.
    const __m256 q = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
    _mm_storeu_ps(out[m] + n, _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1)));
  }
}

template <int B, int GS, int M, int R, int PL>
void gemv_tile(const QuantMatrix& w, const Unpacker& u, const ActRow* acts, float* const* out, int64_t n,
               float* scales) {
  const int64_t k = w.k, groups = k / GS, chunks = (k + 63) / 64, full = k / 64;
  const size_t rb = row_bytes(w);
  const uint8_t* rows[R];
  const uint8_t* pf = w.w + n * rb + kPrefetchBytes;
  tile_scales<R>(w, n, groups, scales, groups);
  for (int r = 0; r < R; ++r) rows[r] = w.w + (n + r) * rb;
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t c = 0; c < chunks; ++c) {
    const bool whole = c < full;
    const __mmask64 lm = whole ? chunk_mask<B>(64) : chunk_mask<B>(32);
    __m512i q[R];
    __m512 sl[R];
    for (int line = 0; line < R * 8 * B; line += 64) _mm_prefetch((const char*)pf + c * R * 8 * B + line, _MM_HINT_T0);
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = rows[r] + c * 8 * B;
      q[r] = unpack64<B>(u, p, lm);
      const float* s = scales + r * groups;
      if (GS == 32) sl[r] = block_pair_lanes(s + 2 * c, whole ? 0x3 : 0x1);
      else if (GS == 64) sl[r] = _mm512_set1_ps(s[c]);
      else sl[r] = _mm512_set1_ps(s[c >> 1]);
    }
    for (int m = 0; m < M; ++m) {
      const __m512i xv = _mm512_loadu_si512(acts[m].q + 64 * c);
      const __m512 dl = block_pair_lanes(acts[m].d + 2 * c, 0x3);
      for (int r = 0; r < R; ++r) {
        __m512i isum = _mm512_dpbusd_epi32(zero, q[r], xv);
        if (PL == 2) isum = _mm512_dpbusd_epi32(_mm512_slli_epi32(isum, 8), q[r], _mm512_loadu_si512(acts[m].q2 + 64 * c));
        acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(sl[r], dl), acc[m][r]);
      }
    }
  }
  finish_tile<M, R>(acc, w, groups, acts, out, n);
}

template <int B, int GS, int M, int PL>
void gemv_rows(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  const Unpacker u = make_unpacker<B>();
  float* scales = static_cast<float*>(scratch);  // kGemvRows × groups
  int64_t n = n0;
  for (; n + kGemvRows <= n1; n += kGemvRows) gemv_tile<B, GS, M, kGemvRows, PL>(w, u, acts, out, n, scales);
  for (; n < n1; ++n) gemv_tile<B, GS, M, 1, PL>(w, u, acts, out, n, scales);
}


// ---- GEMV for 2- and 4-bit: whole 64-byte lines, no byte permute -------------------
// A qword of packed weights holds P = 8/B whole packs. vpmultishiftqb with control i pulls
// pack i of every qword out as 8 bytes (vector i), so a 64-byte line becomes P vectors with
// one load and P shift+mask pairs. In every vector, dword lane l covers values of 32-block
// l / (16/BLOCKS) of the line, so the P vpdpbusd products share one accumulator; the
// activations are permuted into the same order once per task.

template <int B>
struct Wide {
  static constexpr int P = 8 / B;               // packs per qword = vectors per line
  static constexpr int V = 512 / B;             // values per 64-byte line
  static constexpr int BLOCKS = V / kActBlock;  // 32-blocks per line
  static constexpr int LANES = 16 / BLOCKS;     // dword lanes per block
};

struct WideScratch {
  int8_t* xq;  // M × lines × P × 64 activation bytes in vector order
  int8_t* xq2; // the same for the second plane
  float* dl;   // M × lines × 16 block scales per lane
  float* s;    // kGemvRows × (groups + 16) row scales (padded for 16-wide loads)
};

template <int B>
int64_t wide_lines(int64_t k) {
  return (k + Wide<B>::V - 1) / Wide<B>::V;
}

template <int B>
size_t wide_scratch_bytes(int64_t k, int gs) {
  const size_t lines = (size_t)wide_lines<B>(k);
  return kGemvMaxM * lines * (2 * Wide<B>::P * 64 + 64) + sizeof(float) * kGemvRows * (size_t)(k / gs + 16) + 128;
}

template <int B>
WideScratch wide_scratch(void* p, int64_t k, int gs) {
  const int64_t lines = wide_lines<B>(k);
  int8_t* xq = static_cast<int8_t*>(p);
  int8_t* xq2 = xq + kGemvMaxM * lines * Wide<B>::P * 64;
  float* dl = reinterpret_cast<float*>(xq2 + kGemvMaxM * lines * Wide<B>::P * 64);
  float* sc = dl + kGemvMaxM * lines * 16;
  return WideScratch{xq, xq2, dl, sc};
}

template <int B>
void wide_activations(const ActRow& a, int64_t kpad, int64_t lines, int8_t* xq, int8_t* xq2, float* dl) {
  using W = Wide<B>;
  for (int64_t c = 0; c < lines; ++c) {
    for (int i = 0; i < W::P; ++i) {
      for (int q = 0; q < 8; ++q) {
        const int64_t src = W::V * c + 8 * (W::P * q + i);
        int8_t* dst = xq + (c * W::P + i) * 64 + 8 * q;
        int8_t* dst2 = xq2 + (c * W::P + i) * 64 + 8 * q;
        if (src < kpad) std::memcpy(dst, a.q + src, 8);
        else std::memset(dst, 0, 8);
        if (a.q2 && src < kpad) std::memcpy(dst2, a.q2 + src, 8);
        else if (a.q2) std::memset(dst2, 0, 8);
      }
    }
    for (int l = 0; l < 16; ++l) {
      const int64_t block = W::BLOCKS * c + l / W::LANES;
      dl[16 * c + l] = block < kpad / kActBlock ? a.d[block] : 0.0f;
    }
  }
}

// kShort: rows of at most 16 groups keep all their scales in one register each (at k = 256 staging
// them through memory cost ~15 % of the product); longer rows stage them as floats per tile.
template <int B, int GS, int M, int R, int PL, bool kShort>
void gemv_wide_tile(const QuantMatrix& w, const WideScratch& ws, int64_t lines, const ActRow* acts, float* const* out,
                    int64_t n) {
  using W = Wide<B>;
  const int64_t groups = w.k / GS, sstride = groups + 16;
  const size_t rb = row_bytes(w);
  const uint8_t* rows[R];
  const uint8_t* pf = w.w + n * rb + kPrefetchBytes;
  __m512 srow[R];
  if (kShort) {
    prefetch_scales<R>(w, n);
    for (int r = 0; r < R; ++r) srow[r] = load_f32x16(w.scales + (n + r) * scale_row_bytes(w), 0, first_lanes(groups), w.scale_type);
  } else {
    tile_scales<R>(w, n, groups, ws.s, sstride);
  }
  for (int r = 0; r < R; ++r) rows[r] = w.w + (n + r) * rb;
  // Lane l of a line belongs to block l / LANES, i.e. to group (l / LANES) / (GS / 32) of the line.
  alignas(64) int32_t gidx[16];
  for (int l = 0; l < 16; ++l) gidx[l] = (l / W::LANES) / (GS / kActBlock);
  const __m512i group_lanes = _mm512_load_si512(gidx);
  constexpr int kGroupsPerLine = W::BLOCKS / (GS / kActBlock);
  __m512i ctrl[W::P];
  for (int i = 0; i < W::P; ++i) {
    alignas(64) uint8_t c[64];
    for (int j = 0; j < 64; ++j) c[j] = (uint8_t)(8 * B * i + B * (j % 8));
    ctrl[i] = _mm512_load_si512(c);
  }
  const __m512i mask = _mm512_set1_epi8((char)((1 << B) - 1));
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  for (int64_t c = 0; c < lines; ++c) {
    const int64_t left = (int64_t)rb - 64 * c;
    const __mmask64 lm = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
    const int64_t g0 = kGroupsPerLine * c;
    const __mmask16 sm = (__mmask16)((1u << (int)min64(kGroupsPerLine, groups - g0)) - 1);
    for (int line = 0; line < R * 64; line += 64) _mm_prefetch((const char*)pf + c * R * 64 + line, _MM_HINT_T0);
    for (int r = 0; r < R; ++r) {
      const __m512i raw = _mm512_maskz_loadu_epi8(lm, rows[r] + 64 * c);
      const __m512 sl = kShort ? _mm512_permutexvar_ps(_mm512_add_epi32(group_lanes, _mm512_set1_epi32((int)g0)), srow[r])
                               : _mm512_permutexvar_ps(group_lanes, _mm512_maskz_loadu_ps(sm, ws.s + r * sstride + g0));
      __m512i q[W::P];
      for (int i = 0; i < W::P; ++i) q[i] = _mm512_and_si512(_mm512_multishift_epi64_epi8(ctrl[i], raw), mask);
      for (int m = 0; m < M; ++m) {
        const int8_t* xq = ws.xq + (m * lines + c) * W::P * 64;
        __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], _mm512_loadu_si512(xq));
        for (int i = 1; i < W::P; ++i) isum = _mm512_dpbusd_epi32(isum, q[i], _mm512_loadu_si512(xq + 64 * i));
        if (PL == 2) {
          const int8_t* xq2 = ws.xq2 + (m * lines + c) * W::P * 64;
          isum = _mm512_slli_epi32(isum, 8);
          for (int i = 0; i < W::P; ++i) isum = _mm512_dpbusd_epi32(isum, q[i], _mm512_loadu_si512(xq2 + 64 * i));
        }
        const __m512 dl = _mm512_load_ps(ws.dl + (m * lines + c) * 16);
        acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(sl, dl), acc[m][r]);
      }
    }
  }
  finish_tile<M, R>(acc, w, groups, acts, out, n);
}

template <int B, int GS, int M, int PL>
void gemv_wide(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  const int64_t lines = wide_lines<B>(w.k);
  const WideScratch ws = wide_scratch<B>(scratch, w.k, GS);
  for (int m = 0; m < M; ++m)
    wide_activations<B>(acts[m], pad64(w.k), lines, ws.xq + m * lines * Wide<B>::P * 64,
                        ws.xq2 + m * lines * Wide<B>::P * 64, ws.dl + m * lines * 16);
  int64_t n = n0;
  if (w.k / GS <= 16) {
    for (; n + kGemvRows <= n1; n += kGemvRows) gemv_wide_tile<B, GS, M, kGemvRows, PL, true>(w, ws, lines, acts, out, n);
    for (; n < n1; ++n) gemv_wide_tile<B, GS, M, 1, PL, true>(w, ws, lines, acts, out, n);
    return;
  }
  for (; n + kGemvRows <= n1; n += kGemvRows) gemv_wide_tile<B, GS, M, kGemvRows, PL, false>(w, ws, lines, acts, out, n);
  for (; n < n1; ++n) gemv_wide_tile<B, GS, M, 1, PL, false>(w, ws, lines, acts, out, n);
}

template <int B, int GS, int PL>
void gemv_m(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  if (B == 2 || B == 4) {
    constexpr int BW = B == 2 ? 2 : 4;  // keeps Wide<> instantiated for 2 and 4 only
    switch (mcount) {
      case 1: return gemv_wide<BW, GS, 1, PL>(w, acts, out, n0, n1, s);
      case 2: return gemv_wide<BW, GS, 2, PL>(w, acts, out, n0, n1, s);
      case 3: return gemv_wide<BW, GS, 3, PL>(w, acts, out, n0, n1, s);
      default: return gemv_wide<BW, GS, 4, PL>(w, acts, out, n0, n1, s);
    }
  }
  switch (mcount) {
    case 1: return gemv_rows<B, GS, 1, PL>(w, acts, out, n0, n1, s);
    case 2: return gemv_rows<B, GS, 2, PL>(w, acts, out, n0, n1, s);
    case 3: return gemv_rows<B, GS, 3, PL>(w, acts, out, n0, n1, s);
    default: return gemv_rows<B, GS, 4, PL>(w, acts, out, n0, n1, s);
  }
}

template <int B, int GS>
void gemv_pl(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  if (acts[0].q2) gemv_m<B, GS, 2>(w, acts, mcount, out, n0, n1, s);
  else gemv_m<B, GS, 1>(w, acts, mcount, out, n0, n1, s);
}

template <int B>
void gemv_gs(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  switch (w.group_size) {
    case 32: return gemv_pl<B, 32>(w, acts, mcount, out, n0, n1, s);
    case 64: return gemv_pl<B, 64>(w, acts, mcount, out, n0, n1, s);
    default: return gemv_pl<B, 128>(w, acts, mcount, out, n0, n1, s);
  }
}

}  // namespace

size_t gemv_scratch_bytes(int64_t k, int gs) {
  const size_t a = wide_scratch_bytes<2>(k, gs), b = wide_scratch_bytes<4>(k, gs);
  return a > b ? a : b;
}

void gemv(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 void* s) {
  with_bits(w.bits, [&](auto b) { gemv_gs<b.value>(w, acts, mcount, out, n0, n1, s); });
}

}  // namespace avx512
}  // namespace mlxk

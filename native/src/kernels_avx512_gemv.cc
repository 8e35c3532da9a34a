// AVX-512 GEMV (M ≤ 4, decode). 4 weight rows at a time: vpdpbusd of unpacked bytes with
// the int8 activations, per-lane (scale · block scale) applied once per 64 values, and a
// software prefetch 16 KiB ahead. 2-, 3- and 4-bit, and 5-, 6- and 8-bit in groups of 32 or 64,
// take the "lines of whole packs" path below; 5-8 bits in groups of 128 unpack 64 values at a
// time.
#include <algorithm>

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
  const uint8_t *last_scale = last_byte(w.scales, prefetch_rows(w), srb), *last_bias = last_byte(w.biases, prefetch_rows(w), srb);
  for (size_t off = 0; off < R * srb; off += 64) {
    prefetch_within(ps + off, last_scale);
    prefetch_within(pb + off, last_bias);
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
  const uint8_t *pf = w.w + n * rb + kPrefetchBytes, *pf_last = last_byte(w.w, prefetch_rows(w), rb);
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
    for (int line = 0; line < R * 8 * B; line += 64) prefetch_within(pf + c * R * 8 * B + line, pf_last);
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

// Rows of at most 16 groups: a row's scales and biases are one register each, the bias term
// Σ_g b_g·Σx_g starts the accumulator as b ⊙ Σx, and the per-matrix constants are computed once per
// call (at k = 256 a tile is four chunks, and a per-tile prologue costs as much as they do).
template <int B, int GS, int M, int R, int PL>
__attribute__((always_inline)) inline void gemv_short_rows_tile(const QuantMatrix& w, const Unpacker& u, const ActRow* acts,
                                                                const __m512 (&sx)[M], size_t rb, size_t srb, __mmask16 gmask,
                                                                float* const* out, int64_t n) {
  const int64_t chunks = (w.k + 63) / 64, full = w.k / 64;
  const uint8_t* rows[R];
  const uint8_t *pf = w.w + n * rb + kPrefetchBytes, *pf_last = last_byte(w.w, prefetch_rows(w), rb);
  prefetch_scales<R>(w, n);
  __m512 srow[R];
  __m512 acc[M][R];
  for (int r = 0; r < R; ++r) {
    rows[r] = w.w + (n + r) * rb;
    srow[r] = load_f32x16(w.scales + (n + r) * srb, 0, gmask, w.scale_type);
    const __m512 b = load_f32x16(w.biases + (n + r) * srb, 0, gmask, w.scale_type);
    for (int m = 0; m < M; ++m) acc[m][r] = _mm512_mul_ps(b, sx[m]);
  }
  // The group of each lane of a 64-value chunk: lanes 0-7 hold block 2c, lanes 8-15 block 2c+1.
  const __m512i half = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t c = 0; c < chunks; ++c) {
    const bool whole = c < full;
    const __mmask64 lm = whole ? chunk_mask<B>(64) : chunk_mask<B>(32);
    for (int line = 0; line < R * 8 * B; line += 64) prefetch_within(pf + c * R * 8 * B + line, pf_last);
    const __m512i lanes = GS == 32 ? _mm512_add_epi32(half, _mm512_set1_epi32((int)(2 * c))) : _mm512_set1_epi32((int)(GS == 64 ? c : c >> 1));
    __m512 dl[M];
    __m512i xv[M];
    for (int m = 0; m < M; ++m) {
      xv[m] = _mm512_loadu_si512(acts[m].q + 64 * c);
      dl[m] = block_pair_lanes(acts[m].d + 2 * c, 0x3);
    }
    for (int r = 0; r < R; ++r) {
      const __m512i q = unpack64<B>(u, rows[r] + c * 8 * B, lm);
      const __m512 sl = _mm512_permutexvar_ps(lanes, srow[r]);
      for (int m = 0; m < M; ++m) {
        __m512i isum = _mm512_dpbusd_epi32(zero, q, xv[m]);
        if (PL == 2) isum = _mm512_dpbusd_epi32(_mm512_slli_epi32(isum, 8), q, _mm512_loadu_si512(acts[m].q2 + 64 * c));
        acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(sl, dl[m]), acc[m][r]);
      }
    }
  }
  store_tile<M, R>(acc, out, n);
}

template <int B, int GS, int M, int PL>
void gemv_rows(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  const Unpacker u = make_unpacker<B>();
  int64_t n = n0;
  const int64_t groups = w.k / GS;
  if (groups <= 16) {
    const __mmask16 gmask = first_lanes(groups);
    const size_t rb = row_bytes(w), srb = (size_t)groups * mlxk_scale_bytes(w.scale_type);
    __m512 sx[M];
    for (int m = 0; m < M; ++m) sx[m] = _mm512_maskz_loadu_ps(gmask, acts[m].sx);
    for (; n + kGemvRows <= n1; n += kGemvRows) gemv_short_rows_tile<B, GS, M, kGemvRows, PL>(w, u, acts, sx, rb, srb, gmask, out, n);
    for (; n < n1; ++n) gemv_short_rows_tile<B, GS, M, 1, PL>(w, u, acts, sx, rb, srb, gmask, out, n);
    return;
  }
  float* scales = static_cast<float*>(scratch);  // kGemvRows × groups
  for (; n + kGemvRows <= n1; n += kGemvRows) gemv_tile<B, GS, M, kGemvRows, PL>(w, u, acts, out, n, scales);
  for (; n < n1; ++n) gemv_tile<B, GS, M, 1, PL>(w, u, acts, out, n, scales);
}

// ---- GEMV by "lines" of whole packs (2-4 bits; 5-8 bits in groups of 32 or 64) -----
// A qword of packed weights holds P whole packs of 8 values (2 and 4 bits: 8/B packs, the whole
// qword; 3 bits: two 3-byte packs, which one byte permute places in each qword of a 48-byte line;
// 5 and 6 bits: one B-byte pack, placed the same way; 8 bits: one 8-byte pack, as it lies).
// vpmultishiftqb with control i pulls pack i of every qword out as 8 bytes (vector i), so a line
// becomes P vectors with one load and P shift+mask pairs (plus one permute at 3 bits, against
// two permutes per 128 values on the 64-value path); 4 bits split each byte's nibbles instead
// (vector 0 the line's even values, vector 1 its odd ones). In every vector, dword lane l covers
// values of 32-block l / (16/BLOCKS) of the line, so the P vpdpbusd products share one
// accumulator; the activations are permuted into the same order once per task.

// 5, 6 and 8 bits: a line is 64 values (P = 1; 40, 48 or 64 bytes), one group of 64 or two of 32.
// Through this path rather than the 64-value one, which stages each tile's scales through memory
// and sums the bias term in a pass of its own, an 8-bit [1024, 2048] product from DRAM went from
// 19.6 to 26-27 GB/s on one Zen 5 thread and 33-38 to 47-51 on two; 5 and 6 bits gained 15-20 %
// in cache and a little from DRAM.
template <int B>
struct Wide {
  static constexpr int P = B == 3 ? 2 : 8 / B;  // packs per qword = vectors per line
  static constexpr int V = 64 * P;              // values per line
  static constexpr int LB = V * B / 8;          // bytes per line: 64; 48 at 3 and 6 bits, 40 at 5
  static constexpr int BLOCKS = V / kActBlock;  // 32-blocks per line
  static constexpr int LANES = 16 / BLOCKS;     // dword lanes per block
};

struct WideScratch {
  int8_t* xq;  // M × lines × P × 64 activation bytes in vector order
  int8_t* xq2; // the same for the second plane
  float* dl;   // M × lines × 16 block scales per lane
};

template <int B>
int64_t wide_lines(int64_t k) {
  return (k + Wide<B>::V - 1) / Wide<B>::V;
}

template <int B>
size_t wide_scratch_bytes(int64_t k) {
  const size_t lines = (size_t)wide_lines<B>(k);
  return kGemvMaxM * lines * (2 * Wide<B>::P * 64 + 64) + 128;
}

template <int B>
WideScratch wide_scratch(void* p, int64_t k) {
  const int64_t lines = wide_lines<B>(k);
  int8_t* xq = static_cast<int8_t*>(p);
  int8_t* xq2 = xq + kGemvMaxM * lines * Wide<B>::P * 64;
  float* dl = reinterpret_cast<float*>(xq2 + kGemvMaxM * lines * Wide<B>::P * 64);
  return WideScratch{xq, xq2, dl};
}

/** 4 bits: the even and odd values of a line's 128 activations, as wide_unpack splits the weights' nibbles. */
inline void nibble_order(const int8_t* x, int64_t first, int64_t kpad, int8_t* even, int8_t* odd) {
  alignas(64) uint8_t ie[64], io[64];
  for (int j = 0; j < 64; ++j) ie[j] = (uint8_t)(2 * j), io[j] = (uint8_t)(2 * j + 1);
  const __m512i lo = _mm512_loadu_si512(x + first);
  const __m512i hi = first + 64 < kpad ? _mm512_loadu_si512(x + first + 64) : _mm512_setzero_si512();
  _mm512_storeu_si512(even, _mm512_permutex2var_epi8(lo, _mm512_load_si512(ie), hi));
  _mm512_storeu_si512(odd, _mm512_permutex2var_epi8(lo, _mm512_load_si512(io), hi));
}

template <int B>
void wide_activations(const ActRow& a, int64_t kpad, int64_t lines, int8_t* xq, int8_t* xq2, float* dl) {
  using W = Wide<B>;
  for (int64_t c = 0; c < lines; ++c) {
    if constexpr (B == 4) {
      nibble_order(a.q, W::V * c, kpad, xq + 2 * c * 64, xq + (2 * c + 1) * 64);
      if (a.q2) nibble_order(a.q2, W::V * c, kpad, xq2 + 2 * c * 64, xq2 + (2 * c + 1) * 64);
    } else {
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
    }
    for (int l = 0; l < 16; ++l) {
      const int64_t block = W::BLOCKS * c + l / W::LANES;
      dl[16 * c + l] = block < kpad / kActBlock ? a.d[block] : 0.0f;
    }
  }
}

// Per-matrix constants of the wide tiles, computed once per call rather than once per tile (at
// k = 256 a tile is two lines, and its prologue's divisions and branches cost as much as they do).
template <int B>
struct WideRows {
  using W = Wide<B>;
  const QuantMatrix& w;
  int64_t groups, lines;
  size_t rb, srb;
  __mmask64 line_bytes, last_line;  // the bytes of a line, and of a row's last line
  __mmask16 group_mask;             // the first `groups` lanes (rows of ≤ 16 groups)
  __m512i ctrl[W::P], mask, group_lanes, packs;  // ctrl: vpmultishiftqb controls (not 4 bits); packs: 3 bits
  WideRows(const QuantMatrix& m, int gs) : w(m), groups(m.k / gs), lines(wide_lines<B>(m.k)), rb(row_bytes(m)), srb(scale_row_bytes(m)) {
    const int64_t tail = (int64_t)rb - W::LB * (lines - 1);
    line_bytes = W::LB >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << W::LB) - 1);
    last_line = tail >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << tail) - 1);
    // 3 bits: qword q takes line bytes 6q … 6q+5 (packs 2q and 2q+1); 5 and 6 bits: bytes
    // Bq … Bq+B−1 (pack q).
    alignas(64) uint8_t pk[64];
    constexpr int kQwordBytes = B * W::P;
    for (int j = 0; j < 64; ++j) pk[j] = (uint8_t)(kQwordBytes * (j / 8) + (j % 8 < kQwordBytes ? j % 8 : kQwordBytes - 1));
    packs = _mm512_load_si512(pk);
    group_mask = first_lanes(groups);
    // Lane l of a line belongs to block l / LANES, i.e. to group (l / LANES) / (gs / 32) of the line.
    alignas(64) int32_t gidx[16];
    for (int l = 0; l < 16; ++l) gidx[l] = (l / W::LANES) / (gs / kActBlock);
    group_lanes = _mm512_load_si512(gidx);
    for (int i = 0; i < W::P && B != 4 && B != 8; ++i) {
      alignas(64) uint8_t c[64];
      for (int j = 0; j < 64; ++j) c[j] = (uint8_t)(8 * B * i + B * (j % 8));
      ctrl[i] = _mm512_load_si512(c);
    }
    mask = _mm512_set1_epi8((char)((1 << B) - 1));
  }
};

/** The P vectors of line c of a packed row, lane-ordered as the activations of wide_activations. */
template <int B>
inline void wide_unpack(const WideRows<B>& wr, const uint8_t* row, int64_t c, __m512i (&q)[Wide<B>::P]) {
  __m512i raw = _mm512_maskz_loadu_epi8(c + 1 < wr.lines ? wr.line_bytes : wr.last_line, row + Wide<B>::LB * c);
  if constexpr (B == 4) {
    // Low and high nibbles (values 2j and 2j+1 of the line): one shift instead of a second
    // vpmultishiftqb, which shares its port with the scale permute.
    q[0] = _mm512_and_si512(raw, wr.mask);
    q[1] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), wr.mask);
    return;
  }
  if constexpr (B == 8) {
    q[0] = raw;
    return;
  }
  if (B == 3 || B == 5 || B == 6) raw = _mm512_permutexvar_epi8(wr.packs, raw);
  for (int i = 0; i < Wide<B>::P; ++i) q[i] = _mm512_and_si512(_mm512_multishift_epi64_epi8(wr.ctrl[i], raw), wr.mask);
}

/** Σ_i vpdpbusd(q[i], activations of line c, row m), with the second plane's when PL = 2. */
template <int B, int PL>
inline __m512i wide_dot(const WideScratch& ws, int64_t lines, int m, int64_t c, const __m512i (&q)[Wide<B>::P]) {
  constexpr int P = Wide<B>::P;
  const int8_t* xq = ws.xq + (m * lines + c) * P * 64;
  __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], _mm512_loadu_si512(xq));
  for (int i = 1; i < P; ++i) isum = _mm512_dpbusd_epi32(isum, q[i], _mm512_loadu_si512(xq + 64 * i));
  if (PL == 2) {
    const int8_t* xq2 = ws.xq2 + (m * lines + c) * P * 64;
    isum = _mm512_slli_epi32(isum, 8);
    for (int i = 0; i < P; ++i) isum = _mm512_dpbusd_epi32(isum, q[i], _mm512_loadu_si512(xq2 + 64 * i));
  }
  return isum;
}

/**
 * Line c of rows[0 … R−1] into acc: unpack, the dot products, and (scale · block scale) per lane,
 * the scales taken from srow (the row's current 16 groups; cs: the line's place among them).
 */
template <int B, int GS, int M, int R, int PL>
__attribute__((always_inline)) inline void wide_line(const WideRows<B>& wr, const WideScratch& ws, const uint8_t* const (&rows)[R], const uint8_t* pf,
                                                     const uint8_t* pf_last, int64_t c, int64_t cs, const __m512 (&srow)[R], __m512 (&acc)[M][R]) {
  constexpr int kGroupsPerLine = Wide<B>::BLOCKS / (GS / kActBlock);
  for (int line = 0; line < R * Wide<B>::LB; line += 64) prefetch_within(pf + c * R * Wide<B>::LB + line, pf_last);
  const __m512i lanes = _mm512_add_epi32(wr.group_lanes, _mm512_set1_epi32((int)(kGroupsPerLine * cs)));
  for (int r = 0; r < R; ++r) {
    __m512i q[Wide<B>::P];
    wide_unpack<B>(wr, rows[r], c, q);
    const __m512 sl = _mm512_permutexvar_ps(lanes, srow[r]);
    for (int m = 0; m < M; ++m) {
      const __m512 dl = _mm512_load_ps(ws.dl + (m * wr.lines + c) * 16);
      acc[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(wide_dot<B, PL>(ws, wr.lines, m, c, q)), _mm512_mul_ps(sl, dl), acc[m][r]);
    }
  }
}

// Rows of at most 16 groups: a row's scales and biases are one register each, and the bias term
// Σ_g b_g·Σx_g starts the accumulator as b ⊙ Σx (the Σx vector loaded once per call, not per row).
template <int B, int GS, int M, int R, int PL>
__attribute__((always_inline)) inline void gemv_short_tile(const WideRows<B>& wr, const WideScratch& ws, const __m512 (&sx)[M],
                                                           float* const* out, int64_t n) {
  const QuantMatrix& w = wr.w;
  const uint8_t* rows[R];
  const uint8_t *pf = w.w + n * wr.rb + kPrefetchBytes, *pf_last = last_byte(w.w, prefetch_rows(w), wr.rb);
  prefetch_scales<R>(w, n);
  __m512 srow[R];
  __m512 acc[M][R];
  for (int r = 0; r < R; ++r) {
    rows[r] = w.w + (n + r) * wr.rb;
    srow[r] = load_f32x16(w.scales + (n + r) * wr.srb, 0, wr.group_mask, w.scale_type);
    const __m512 b = load_f32x16(w.biases + (n + r) * wr.srb, 0, wr.group_mask, w.scale_type);
    for (int m = 0; m < M; ++m) acc[m][r] = _mm512_mul_ps(b, sx[m]);
  }
  for (int64_t c = 0; c < wr.lines; ++c) wide_line<B, GS, M, R, PL>(wr, ws, rows, pf, pf_last, c, c, srow, acc);
  store_tile<M, R>(acc, out, n);
}

// Rows of more than 16 groups are walked in segments of 16: a segment's scales are one register per
// row, and its bias term Σ_g b_g·Σx_g enters the accumulator as one b ⊙ Σx product as it starts
// (staging every tile's scales through memory and summing the biases in a pass of their own cost
// ~7 % at k = 2048).
template <int B, int GS, int M, int R, int PL>
void gemv_wide_tile(const WideRows<B>& wr, const WideScratch& ws, const ActRow* acts, float* const* out, int64_t n) {
  const QuantMatrix& w = wr.w;
  constexpr int kGroupsPerLine = Wide<B>::BLOCKS / (GS / kActBlock);
  constexpr int64_t kSegmentLines = 16 / kGroupsPerLine;
  const uint8_t* rows[R];
  const uint8_t *pf = w.w + n * wr.rb + kPrefetchBytes, *pf_last = last_byte(w.w, prefetch_rows(w), wr.rb);
  prefetch_scales<R>(w, n);
  for (int r = 0; r < R; ++r) rows[r] = w.w + (n + r) * wr.rb;
  __m512 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  for (int64_t c0 = 0, g0 = 0; c0 < wr.lines; c0 += kSegmentLines, g0 += 16) {
    const __mmask16 gm = first_lanes(wr.groups - g0);
    __m512 srow[R];
    __m512 sx[M];
    for (int m = 0; m < M; ++m) sx[m] = _mm512_maskz_loadu_ps(gm, acts[m].sx + g0);
    for (int r = 0; r < R; ++r) {
      srow[r] = load_f32x16(w.scales + (n + r) * wr.srb, g0, gm, w.scale_type);
      const __m512 b = load_f32x16(w.biases + (n + r) * wr.srb, g0, gm, w.scale_type);
      for (int m = 0; m < M; ++m) acc[m][r] = _mm512_fmadd_ps(b, sx[m], acc[m][r]);
    }
    const int64_t c1 = min64(wr.lines, c0 + kSegmentLines);
    for (int64_t c = c0; c < c1; ++c) wide_line<B, GS, M, R, PL>(wr, ws, rows, pf, pf_last, c, c - c0, srow, acc);
  }
  store_tile<M, R>(acc, out, n);
}

template <int B, int GS, int M, int PL>
void gemv_wide(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  // Four activation rows on 4-row tiles need 16 accumulators beside the unpacked lines, scales and
  // activations, more than 32 registers: GCC spilled them. On 2-row tiles a [1024, 2048] product,
  // one Zen 5 thread, M = 4: 2 bits 125 -> 150, 4 bits 97 -> 118 G multiply-adds/s (M = 3 lost).
  constexpr int TR = M >= 4 ? 2 : kGemvRows;
  const WideRows<B> wr(w, GS);
  const WideScratch ws = wide_scratch<B>(scratch, w.k);
  for (int m = 0; m < M; ++m)
    wide_activations<B>(acts[m], pad64(w.k), wr.lines, ws.xq + m * wr.lines * Wide<B>::P * 64,
                        ws.xq2 + m * wr.lines * Wide<B>::P * 64, ws.dl + m * wr.lines * 16);
  int64_t n = n0;
  if (wr.groups <= 16) {
    __m512 sx[M];
    for (int m = 0; m < M; ++m) sx[m] = _mm512_maskz_loadu_ps(wr.group_mask, acts[m].sx);
    for (; n + TR <= n1; n += TR) gemv_short_tile<B, GS, M, TR, PL>(wr, ws, sx, out, n);
    for (; n < n1; ++n) gemv_short_tile<B, GS, M, 1, PL>(wr, ws, sx, out, n);
    return;
  }
  for (; n + TR <= n1; n += TR) gemv_wide_tile<B, GS, M, TR, PL>(wr, ws, acts, out, n);
  for (; n < n1; ++n) gemv_wide_tile<B, GS, M, 1, PL>(wr, ws, acts, out, n);
}

template <int B, int GS, int PL>
void gemv_m(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  // A line of 5, 6 or 8-bit values is half a group of 128: those take the 64-value path.
  if constexpr (B <= 4 || GS <= 64) {
    switch (mcount) {
      case 1: return gemv_wide<B, GS, 1, PL>(w, acts, out, n0, n1, s);
      case 2: return gemv_wide<B, GS, 2, PL>(w, acts, out, n0, n1, s);
      case 3: return gemv_wide<B, GS, 3, PL>(w, acts, out, n0, n1, s);
      default: return gemv_wide<B, GS, 4, PL>(w, acts, out, n0, n1, s);
    }
  } else {
    switch (mcount) {
      case 1: return gemv_rows<B, GS, 1, PL>(w, acts, out, n0, n1, s);
      case 2: return gemv_rows<B, GS, 2, PL>(w, acts, out, n0, n1, s);
      case 3: return gemv_rows<B, GS, 3, PL>(w, acts, out, n0, n1, s);
      default: return gemv_rows<B, GS, 4, PL>(w, acts, out, n0, n1, s);
    }
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
  // gemv_rows stages kGemvRows rows of scales for rows of more than 16 groups (gemv_tile).
  const size_t a = std::max(std::max(wide_scratch_bytes<2>(k), wide_scratch_bytes<5>(k)), std::max(wide_scratch_bytes<6>(k), wide_scratch_bytes<8>(k))), b = wide_scratch_bytes<4>(k), rows = sizeof(float) * kGemvRows * (size_t)(k / gs) + 64;
  return std::max(std::max(a, b), rows);
}

void gemv(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 void* s) {
  with_bits(w.bits, [&](auto b) { gemv_gs<b.value>(w, acts, mcount, out, n0, n1, s); });
}

}  // namespace avx512
}  // namespace mlxk

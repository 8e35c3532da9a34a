// AVX-512 kernels (F, BW, VL, DQ, VNNI, VBMI: Ice Lake and later, Zen 4 and later).
// Compiled with those flags in its own library; everything here has internal
// linkage (and uses no std:: templates) so no AVX-512 code leaks into other files.
//
// Unpack: for every width B, the 8 values of a pack are B whole bytes, so one
// vpermb places pack j's bytes in qword j and one vpmultishiftqb pulls the 8
// B-bit fields out as bytes: 64 values in natural order from 4 instructions.
// GEMV: 4 weight rows at a time, vpdpbusd of unpacked bytes with the int8
// activations, per-lane (scale · block scale) applied once per 64 values; 2- and
// 4-bit skip the byte permute (see "whole 64-byte lines" below).
// GEMM: a 32-row panel is unpacked and transposed once into [k/4][32 rows][4]
// bytes, then a 4×32 register tile accumulates vpdpbusd with broadcast
// activations (rows in lanes: no horizontal sums), flushing to float per block.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels.h"

namespace mlxk {
namespace {

constexpr int kDenseChunk = 512;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- activations ---------------------------------------------------------

void quantize_rows_avx512(const float* x, int64_t rows, int64_t ldx, ActBuffer& act) {
  const int64_t k = act.k, kpad = act.kpad;
  const int gs = act.group_size;
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    ActRow a = act_row(act, r);
    int8_t* q = const_cast<int8_t*>(a.q);
    float* d = const_cast<float*>(a.d);
    float* sx = const_cast<float*>(a.sx);
    for (int64_t b = 0; b < kpad / kActBlock; ++b) {
      const int64_t k0 = b * kActBlock;
      if (k0 >= k) {
        std::memset(q + k0, 0, kActBlock);
        if (a.q2) std::memset(const_cast<int8_t*>(a.q2) + k0, 0, kActBlock);
        d[b] = 0.0f;
        continue;
      }
      const __m512 v0 = _mm512_loadu_ps(xr + k0), v1 = _mm512_loadu_ps(xr + k0 + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
      const float db = amax / 127.0f, ids = amax > 0.0f ? 127.0f / amax : 0.0f;
      const __m512 id = _mm512_set1_ps(ids);
      // cvtps2dq rounds to nearest even, like nearbyint in the scalar kernel.
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
      _mm_storeu_si128((__m128i*)(q + k0), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128((__m128i*)(q + k0 + 16), _mm512_cvtsepi32_epi8(q1));
      d[b] = db;
      if (a.q2) {
        const __m512 dv = _mm512_set1_ps(db), id2 = _mm512_set1_ps(ids * kPlane2Scale);
        const __m512i lo = _mm512_set1_epi32(-127);
        const __m512i r0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(v0, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(q0))), id2));
        const __m512i r1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(v1, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(q1))), id2));
        int8_t* q2 = const_cast<int8_t*>(a.q2);
        _mm_storeu_si128((__m128i*)(q2 + k0), _mm512_cvtsepi32_epi8(_mm512_max_epi32(r0, lo)));
        _mm_storeu_si128((__m128i*)(q2 + k0 + 16), _mm512_cvtsepi32_epi8(_mm512_max_epi32(r1, lo)));
        d[b] = db / kPlane2Scale;
      }
    }
    for (int64_t g = 0; g < k / gs; ++g) {
      __m512 s = _mm512_setzero_ps();
      for (int i = 0; i < gs; i += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(xr + g * gs + i));
      sx[g] = _mm512_reduce_add_ps(s);
    }
  }
}

// ---- unpack ----------------------------------------------------------------

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

/** count scale/bias elements of type t at p (any alignment) → float out. */
void load_scales(const uint8_t* p, int64_t count, int t, float* out) {
  for (int64_t i = 0; i < count; i += 16) {
    const int n = (int)min64(16, count - i);
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    __m512 v;
    if (t == MLXK_SCALE_F32) {
      v = _mm512_maskz_loadu_ps(m, p + 4 * i);
    } else {
      const __m256i h = _mm256_maskz_loadu_epi16(m, p + 2 * i);
      v = t == MLXK_SCALE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
    }
    _mm512_mask_storeu_ps(out + i, m, v);
  }
}

float dot_f32(const float* a, const float* b, int64_t count) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = (__mmask16)((1u << (int)min64(16, count - i)) - 1);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Lanes 0-7 of a 64-value chunk's vpdpbusd result cover block 2c, lanes 8-15 block 2c+1.
inline __m512 block_pair_lanes(const float* v, __mmask16 m) {
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(m, v));
}

// ---- GEMV --------------------------------------------------------------------

constexpr int kGemvRows = 4;
// Weight rows are streamed from DRAM; the hardware prefetcher alone keeps too few
// lines in flight (it stops at page boundaries), so each chunk step also prefetches
// the same share of the bytes kPrefetchBytes ahead in the matrix.
// 16 KiB measured best on Zen 4/5 (4 KiB: -10 %, none: -45 %).
constexpr int kPrefetchBytes = 16384;
constexpr int kScalePrefetchTiles = 8;

struct ScaleScratch {
  float* s;  // kGemvRows × groups
  float* b;
};

template <int B, int GS, int M, int R, int PL>
void gemv_tile(const QuantMatrix& w, const Unpacker& u, const ActRow* acts, float* const* out, int64_t n,
               const ScaleScratch& ss) {
  const int64_t k = w.k, groups = k / GS, chunks = (k + 63) / 64, full = k / 64;
  const size_t rb = row_bytes(w);
  const uint8_t* rows[R];
  const uint8_t* pf = w.w + n * rb + kPrefetchBytes;
  {
    const size_t srb = scale_row_bytes(w);
    const uint8_t* ps = w.scales + (n + R * kScalePrefetchTiles) * srb;
    const uint8_t* pb = w.biases + (n + R * kScalePrefetchTiles) * srb;
    for (size_t off = 0; off < R * srb; off += 64) {
      _mm_prefetch((const char*)ps + off, _MM_HINT_T0);
      _mm_prefetch((const char*)pb + off, _MM_HINT_T0);
    }
  }
  for (int r = 0; r < R; ++r) {
    rows[r] = w.w + (n + r) * rb;
    load_scales(w.scales + (n + r) * scale_row_bytes(w), groups, w.scale_type, ss.s + r * groups);
    load_scales(w.biases + (n + r) * scale_row_bytes(w), groups, w.scale_type, ss.b + r * groups);
  }
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
      const float* s = ss.s + r * groups;
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
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r)
      out[m][n + r] = _mm512_reduce_add_ps(acc[m][r]) + dot_f32(ss.b + r * groups, acts[m].sx, groups);
}

template <int B, int GS, int M, int PL>
void gemv_rows(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  const Unpacker u = make_unpacker<B>();
  const int64_t groups = w.k / GS;
  ScaleScratch ss{static_cast<float*>(scratch), static_cast<float*>(scratch) + kGemvRows * groups};
  int64_t n = n0;
  for (; n + kGemvRows <= n1; n += kGemvRows) gemv_tile<B, GS, M, kGemvRows, PL>(w, u, acts, out, n, ss);
  for (; n < n1; ++n) gemv_tile<B, GS, M, 1, PL>(w, u, acts, out, n, ss);
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
  float* b;
};

template <int B>
int64_t wide_lines(int64_t k) {
  return (k + Wide<B>::V - 1) / Wide<B>::V;
}

template <int B>
size_t wide_scratch_bytes(int64_t k, int gs) {
  const size_t lines = (size_t)wide_lines<B>(k);
  return kGemvMaxM * lines * (2 * Wide<B>::P * 64 + 64) + 2 * sizeof(float) * kGemvRows * (size_t)(k / gs + 16) + 128;
}

template <int B>
WideScratch wide_scratch(void* p, int64_t k, int gs) {
  const int64_t lines = wide_lines<B>(k);
  int8_t* xq = static_cast<int8_t*>(p);
  int8_t* xq2 = xq + kGemvMaxM * lines * Wide<B>::P * 64;
  float* dl = reinterpret_cast<float*>(xq2 + kGemvMaxM * lines * Wide<B>::P * 64);
  float* sc = dl + kGemvMaxM * lines * 16;
  return WideScratch{xq, xq2, dl, sc, sc + kGemvRows * (k / gs + 16)};
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

template <int B, int GS, int M, int R, int PL>
void gemv_wide_tile(const QuantMatrix& w, const WideScratch& ws, int64_t lines, const ActRow* acts, float* const* out,
                    int64_t n) {
  using W = Wide<B>;
  const int64_t groups = w.k / GS, sstride = groups + 16;
  const size_t rb = row_bytes(w);
  const uint8_t* rows[R];
  const uint8_t* pf = w.w + n * rb + kPrefetchBytes;
  {
    const size_t srb = scale_row_bytes(w);
    const uint8_t* ps = w.scales + (n + R * kScalePrefetchTiles) * srb;
    const uint8_t* pb = w.biases + (n + R * kScalePrefetchTiles) * srb;
    for (size_t off = 0; off < R * srb; off += 64) {
      _mm_prefetch((const char*)ps + off, _MM_HINT_T0);
      _mm_prefetch((const char*)pb + off, _MM_HINT_T0);
    }
  }
  for (int r = 0; r < R; ++r) {
    rows[r] = w.w + (n + r) * rb;
    load_scales(w.scales + (n + r) * scale_row_bytes(w), groups, w.scale_type, ws.s + r * sstride);
    load_scales(w.biases + (n + r) * scale_row_bytes(w), groups, w.scale_type, ws.b + r * sstride);
  }
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
      const __m512 sl = _mm512_permutexvar_ps(group_lanes, _mm512_maskz_loadu_ps(sm, ws.s + r * sstride + g0));
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
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r)
      out[m][n + r] = _mm512_reduce_add_ps(acc[m][r]) + dot_f32(ws.b + r * sstride, acts[m].sx, groups);
}

template <int B, int GS, int M, int PL>
void gemv_wide(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  const int64_t lines = wide_lines<B>(w.k);
  const WideScratch ws = wide_scratch<B>(scratch, w.k, GS);
  for (int m = 0; m < M; ++m)
    wide_activations<B>(acts[m], pad64(w.k), lines, ws.xq + m * lines * Wide<B>::P * 64,
                        ws.xq2 + m * lines * Wide<B>::P * 64, ws.dl + m * lines * 16);
  int64_t n = n0;
  for (; n + kGemvRows <= n1; n += kGemvRows) gemv_wide_tile<B, GS, M, kGemvRows, PL>(w, ws, lines, acts, out, n);
  for (; n < n1; ++n) gemv_wide_tile<B, GS, M, 1, PL>(w, ws, lines, acts, out, n);
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

void gemv_avx512(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 void* s) {
  switch (w.bits) {
    case 2: return gemv_gs<2>(w, acts, mcount, out, n0, n1, s);
    case 3: return gemv_gs<3>(w, acts, mcount, out, n0, n1, s);
    case 4: return gemv_gs<4>(w, acts, mcount, out, n0, n1, s);
    case 5: return gemv_gs<5>(w, acts, mcount, out, n0, n1, s);
    case 6: return gemv_gs<6>(w, acts, mcount, out, n0, n1, s);
    default: return gemv_gs<8>(w, acts, mcount, out, n0, n1, s);
  }
}

// ---- GEMM --------------------------------------------------------------------

constexpr int kPanel = 32;  // weight rows per panel = 2 vectors of 16 lanes
constexpr int kTileM = 4;   // activation rows per register tile

// Panel layout in scratch: bytes [k/4][32][4] (a dword = 4 consecutive k of one row),
// then scales [groups][32] and biases [groups][32] as float (zero for missing rows).
struct Panel {
  uint8_t* q;
  float* s;
  float* b;
  float* tmp;  // one row's scales while they are transposed in
};

Panel panel_at(void* scratch, int64_t k, int gs) {
  uint8_t* q = static_cast<uint8_t*>(scratch);
  float* s = reinterpret_cast<float*>(q + (size_t)pad64(k) * kPanel);
  float* b = s + (k / gs) * kPanel;
  return Panel{q, s, b, b + (k / gs) * kPanel};
}

size_t scratch_bytes_avx512(int64_t k, int gs) {
  const size_t panel = (size_t)pad64(k) * kPanel + sizeof(float) * (size_t)(k / gs) * (2 * kPanel + 1);
  size_t gemv = wide_scratch_bytes<2>(k, gs);
  if (wide_scratch_bytes<4>(k, gs) > gemv) gemv = wide_scratch_bytes<4>(k, gs);
  return (panel > gemv ? panel : gemv) + 64;
}

// In-register transpose of a 16×16 matrix of dwords: r[i] lane j → r[j] lane i.
inline void transpose16(__m512i r[16]) {
  __m512i t[16], v[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // v[4g + c] holds, in 128-bit lane L, column 4L + c of rows 4g..4g+3.
  for (int c = 0; c < 4; ++c) {
    const __m512i a = _mm512_shuffle_i32x4(v[c], v[4 + c], 0x88), b = _mm512_shuffle_i32x4(v[c], v[4 + c], 0xdd);
    const __m512i e = _mm512_shuffle_i32x4(v[8 + c], v[12 + c], 0x88), f = _mm512_shuffle_i32x4(v[8 + c], v[12 + c], 0xdd);
    r[c] = _mm512_shuffle_i32x4(a, e, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(a, e, 0xdd);
    r[4 + c] = _mm512_shuffle_i32x4(b, f, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(b, f, 0xdd);
  }
}

template <int B>
void build_panel(const QuantMatrix& w, int64_t n0, int nr, const Panel& p) {
  const Unpacker u = make_unpacker<B>();
  const int64_t k = w.k, groups = k / w.group_size, chunks = (k + 63) / 64, full = k / 64;
  const size_t rb = row_bytes(w);
  uint32_t* dst = reinterpret_cast<uint32_t*>(p.q);
  for (int half = 0; half < 2; ++half) {
    for (int64_t c = 0; c < chunks; ++c) {
      const __mmask64 lm = c < full ? chunk_mask<B>(64) : chunk_mask<B>(32);
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * half + i;
        r[i] = row < nr ? unpack64<B>(u, w.w + (n0 + row) * rb + c * 8 * B, lm) : _mm512_setzero_si512();
      }
      transpose16(r);
      const int dwords = c < full ? 16 : 8;
      for (int j = 0; j < dwords; ++j) _mm512_store_si512(dst + (16 * c + j) * kPanel + 16 * half, r[j]);
    }
  }
  for (int which = 0; which < 2; ++which) {
    float* target = which == 0 ? p.s : p.b;
    const uint8_t* base = which == 0 ? w.scales : w.biases;
    for (int row = 0; row < kPanel; ++row) {
      if (row < nr) {
        load_scales(base + (n0 + row) * scale_row_bytes(w), groups, w.scale_type, p.tmp);
        for (int64_t g = 0; g < groups; ++g) target[g * kPanel + row] = p.tmp[g];
      } else {
        for (int64_t g = 0; g < groups; ++g) target[g * kPanel + row] = 0.0f;
      }
    }
  }
}

// out[m][n0 .. n0+nr) for MR activation rows over a built panel.
template <int MR, int PL>
void gemm_tile(const Panel& p, int64_t k, int gs, const ActRow* acts, float* const* out, int64_t n0, int nr) {
  const int64_t groups = k / gs;
  const int blocks_per_group = gs / kActBlock;
  __m512 acc[MR][2];
  for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
  const uint8_t* wq = p.q;
  for (int64_t g = 0; g < groups; ++g) {
    const __m512 s0 = _mm512_load_ps(p.s + g * kPanel), s1 = _mm512_load_ps(p.s + g * kPanel + 16);
    for (int jb = 0; jb < blocks_per_group; ++jb) {
      const int64_t j = g * blocks_per_group + jb;
      __m512i isum[MR][2];
      for (int m = 0; m < MR; ++m) isum[m][0] = isum[m][1] = _mm512_setzero_si512();
      for (int plane = 0; plane < PL; ++plane) {
        if (plane == 1)
          for (int m = 0; m < MR; ++m) {
            isum[m][0] = _mm512_slli_epi32(isum[m][0], 8);
            isum[m][1] = _mm512_slli_epi32(isum[m][1], 8);
          }
        const uint8_t* wb = wq;
        for (int step = 0; step < kActBlock / 4; ++step, wb += 4 * kPanel) {
          const __m512i w0 = _mm512_load_si512(wb), w1 = _mm512_load_si512(wb + 64);
          for (int m = 0; m < MR; ++m) {
            int32_t x4;
            std::memcpy(&x4, (plane == 0 ? acts[m].q : acts[m].q2) + j * kActBlock + 4 * step, 4);
            const __m512i xb = _mm512_set1_epi32(x4);
            isum[m][0] = _mm512_dpbusd_epi32(isum[m][0], w0, xb);
            isum[m][1] = _mm512_dpbusd_epi32(isum[m][1], w1, xb);
          }
        }
      }
      wq += (kActBlock / 4) * 4 * kPanel;
      for (int m = 0; m < MR; ++m) {
        const __m512 d = _mm512_set1_ps(acts[m].d[j]);
        acc[m][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[m][0]), _mm512_mul_ps(s0, d), acc[m][0]);
        acc[m][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[m][1]), _mm512_mul_ps(s1, d), acc[m][1]);
      }
    }
    const __m512 b0 = _mm512_load_ps(p.b + g * kPanel), b1 = _mm512_load_ps(p.b + g * kPanel + 16);
    for (int m = 0; m < MR; ++m) {
      const __m512 sx = _mm512_set1_ps(acts[m].sx[g]);
      acc[m][0] = _mm512_fmadd_ps(b0, sx, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(b1, sx, acc[m][1]);
    }
  }
  const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
  const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
  for (int m = 0; m < MR; ++m) {
    _mm512_mask_storeu_ps(out[m] + n0, m0, acc[m][0]);
    _mm512_mask_storeu_ps(out[m] + n0 + 16, m1, acc[m][1]);
  }
}

template <int B, int PL>
void gemm_bits(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
               void* scratch) {
  const Panel p = panel_at(scratch, w.k, w.group_size);
  for (int64_t n = n0; n < n1; n += kPanel) {
    const int nr = (int)min64(kPanel, n1 - n);
    build_panel<B>(w, n, nr, p);
    int m = 0;
    for (; m + kTileM <= mcount; m += kTileM) gemm_tile<kTileM, PL>(p, w.k, w.group_size, acts + m, out + m, n, nr);
    switch (mcount - m) {
      case 1: gemm_tile<1, PL>(p, w.k, w.group_size, acts + m, out + m, n, nr); break;
      case 2: gemm_tile<2, PL>(p, w.k, w.group_size, acts + m, out + m, n, nr); break;
      case 3: gemm_tile<3, PL>(p, w.k, w.group_size, acts + m, out + m, n, nr); break;
      default: break;
    }
  }
}

void gemm_avx512(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 void* s) {
  if (acts[0].q2) {
    switch (w.bits) {
      case 2: return gemm_bits<2, 2>(w, acts, mcount, out, n0, n1, s);
      case 3: return gemm_bits<3, 2>(w, acts, mcount, out, n0, n1, s);
      case 4: return gemm_bits<4, 2>(w, acts, mcount, out, n0, n1, s);
      case 5: return gemm_bits<5, 2>(w, acts, mcount, out, n0, n1, s);
      case 6: return gemm_bits<6, 2>(w, acts, mcount, out, n0, n1, s);
      default: return gemm_bits<8, 2>(w, acts, mcount, out, n0, n1, s);
    }
  }
  switch (w.bits) {
    case 2: return gemm_bits<2, 1>(w, acts, mcount, out, n0, n1, s);
    case 3: return gemm_bits<3, 1>(w, acts, mcount, out, n0, n1, s);
    case 4: return gemm_bits<4, 1>(w, acts, mcount, out, n0, n1, s);
    case 5: return gemm_bits<5, 1>(w, acts, mcount, out, n0, n1, s);
    case 6: return gemm_bits<6, 1>(w, acts, mcount, out, n0, n1, s);
    default: return gemm_bits<8, 1>(w, acts, mcount, out, n0, n1, s);
  }
}

// ---- dense -----------------------------------------------------------------------
// Explicit version of dense_impl.h's loop (GCC keeps those accumulators in memory):
// 4 weight rows converted to float per 512-value chunk, 3 activation rows × 4 weight
// rows of FMAs per 16 values.

void convert_dense(const uint8_t* p, int64_t count, int dtype, float* out) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = (__mmask16)(count - i >= 16 ? 0xffff : (1u << (count - i)) - 1);
    __m512 v;
    if (dtype == MLXK_SCALE_F32) {
      v = _mm512_maskz_loadu_ps(m, p + 4 * i);
    } else {
      const __m256i h = _mm256_maskz_loadu_epi16(m, p + 2 * i);
      v = dtype == MLXK_SCALE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
    }
    _mm512_store_ps(out + i, v);  // zero past count, so whole vectors can be used
  }
}

template <int R, int MB>
inline void dense_tile(const float (&wf)[4][kDenseChunk], int64_t kc, const float* const* x, int64_t k0, int m,
                       float* const* out, int64_t n) {
  __m512 acc[MB][R];
  for (int mb = 0; mb < MB; ++mb)
    for (int r = 0; r < R; ++r) acc[mb][r] = _mm512_setzero_ps();
  for (int64_t l = 0; l < kc; l += 16) {
    const __mmask16 km = (__mmask16)(kc - l >= 16 ? 0xffff : (1u << (kc - l)) - 1);
    __m512 xv[MB];
    for (int mb = 0; mb < MB; ++mb) xv[mb] = _mm512_maskz_loadu_ps(km, x[m + mb] + k0 + l);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = _mm512_load_ps(&wf[r][l]);
      for (int mb = 0; mb < MB; ++mb) acc[mb][r] = _mm512_fmadd_ps(xv[mb], wv, acc[mb][r]);
    }
  }
  for (int mb = 0; mb < MB; ++mb)
    for (int r = 0; r < R; ++r) {
      float* o = out[m + mb] + n + r;
      const float s = _mm512_reduce_add_ps(acc[mb][r]);
      *o = k0 == 0 ? s : *o + s;
    }
}

template <int R>
void dense_block_avx512(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n) {
  alignas(64) float wf[4][kDenseChunk];
  const size_t eb = (size_t)mlxk_scale_bytes(w.dtype);
  for (int64_t k0 = 0; k0 < w.k; k0 += kDenseChunk) {
    const int64_t kc = min64(kDenseChunk, w.k - k0);
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w.w + ((size_t)(n + r) * (size_t)w.k + (size_t)k0) * eb;
      for (size_t off = 0; off < (size_t)kc * eb; off += 64) _mm_prefetch((const char*)src + kPrefetchBytes + off, _MM_HINT_T0);
      convert_dense(src, kc, w.dtype, wf[r]);
    }
    int m = 0;
    for (; m + 3 <= mcount; m += 3) dense_tile<R, 3>(wf, kc, x, k0, m, out, n);
    for (; m < mcount; ++m) dense_tile<R, 1>(wf, kc, x, k0, m, out, n);
  }
}

void dense_avx512(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) dense_block_avx512<4>(w, x, mcount, out, n);
  for (; n < n1; ++n) dense_block_avx512<1>(w, x, mcount, out, n);
}

// ---- bandwidth -----------------------------------------------------------------

double read_pass_avx512(const uint8_t* p, size_t bytes) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 256 <= bytes; i += 256) {
    for (int line = 0; line < 256; line += 64) _mm_prefetch((const char*)p + i + kPrefetchBytes + line, _MM_HINT_T0);
    a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(p + i + 64));
    a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(p + i + 128));
    a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(p + i + 192));
  }
  const __m512i t = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
  return (double)_mm512_reduce_add_epi64(t);
}

const Kernels kAvx512 = {
    "avx512", quantize_rows_avx512, gemv_avx512, gemm_avx512, kPanel, scratch_bytes_avx512, read_pass_avx512, dense_avx512,
};

}  // namespace

const Kernels& avx512_kernels() { return kAvx512; }

}  // namespace mlxk

// AVX-512 GEMM (M > 4, prefill) and dense matmul. A 32-row panel is unpacked and
// transposed once into [k/4][32 rows][4] bytes, then a 4×32 register tile accumulates
// vpdpbusd with broadcast activations (rows in lanes: no horizontal sums), flushing to
// float once per 32-block.
#include <vector>

#include "avx512_common.h"

namespace mlxk {
namespace avx512 {
namespace {

// ---- GEMM --------------------------------------------------------------------

constexpr int kPanel = 32;  // weight rows per panel = 2 vectors of 16 lanes
constexpr int kTileM = 4;   // activation rows per register tile (6 measured no faster)

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

}  // namespace

size_t gemm_scratch_bytes(int64_t k, int gs) {
  return (size_t)pad64(k) * kPanel + sizeof(float) * (size_t)(k / gs) * (2 * kPanel + 1) + 64;
}

namespace {

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
  const size_t rb = row_bytes(w), srb = scale_row_bytes(w);
  uint32_t* dst = reinterpret_cast<uint32_t*>(p.q);
  // While this panel is built, prefetch the next one (its rows are contiguous after these),
  // spread evenly over the 2·chunks steps: small-M calls are bound by these DRAM reads.
  const uint8_t* next = w.w + (n0 + kPanel) * rb;
  const size_t step_bytes = (kPanel * rb + 2 * chunks - 1) / (2 * chunks);
  const uint8_t *last_scale = last_byte(w.scales, prefetch_rows(w), srb), *last_bias = last_byte(w.biases, prefetch_rows(w), srb), *last = last_byte(w.w, prefetch_rows(w), rb);
  for (size_t off = 0; off < kPanel * srb; off += 64) {
    prefetch_within(w.scales + (n0 + kPanel) * srb + off, last_scale);
    prefetch_within(w.biases + (n0 + kPanel) * srb + off, last_bias);
  }
  for (int half = 0; half < 2; ++half) {
    for (int64_t c = 0; c < chunks; ++c) {
      const uint8_t* pf = next + (half * chunks + c) * step_bytes;
      for (size_t off = 0; off < step_bytes; off += 64) prefetch_within(pf + off, last);
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
        load_scales(base + (n0 + row) * srb, groups, w.scale_type, p.tmp);
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
  unrolled<MR>([&](auto m) { acc[m][0] = acc[m][1] = _mm512_setzero_ps(); });
  const uint8_t* wq = p.q;
  for (int64_t g = 0; g < groups; ++g) {
    const __m512 s0 = _mm512_load_ps(p.s + g * kPanel), s1 = _mm512_load_ps(p.s + g * kPanel + 16);
    for (int jb = 0; jb < blocks_per_group; ++jb) {
      const int64_t j = g * blocks_per_group + jb;
      __m512i isum[MR][2];
      unrolled<MR>([&](auto m) { isum[m][0] = isum[m][1] = _mm512_setzero_si512(); });
      unrolled<PL>([&](auto plane) {
        if (plane == 1)
          unrolled<MR>([&](auto m) {
            isum[m][0] = _mm512_slli_epi32(isum[m][0], 8);
            isum[m][1] = _mm512_slli_epi32(isum[m][1], 8);
          });
        const uint8_t* wb = wq;
        for (int step = 0; step < kActBlock / 4; ++step, wb += 4 * kPanel) {
          const __m512i w0 = _mm512_load_si512(wb), w1 = _mm512_load_si512(wb + 64);
          unrolled<MR>([&](auto m) {
            int32_t x4;
            std::memcpy(&x4, (plane == 0 ? acts[m].q : acts[m].q2) + j * kActBlock + 4 * step, 4);
            const __m512i xb = _mm512_set1_epi32(x4);
            isum[m][0] = _mm512_dpbusd_epi32(isum[m][0], w0, xb);
            isum[m][1] = _mm512_dpbusd_epi32(isum[m][1], w1, xb);
          });
        }
      });
      wq += (kActBlock / 4) * 4 * kPanel;
      unrolled<MR>([&](auto m) {
        const __m512 d = _mm512_set1_ps(acts[m].d[j]);
        acc[m][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[m][0]), _mm512_mul_ps(s0, d), acc[m][0]);
        acc[m][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[m][1]), _mm512_mul_ps(s1, d), acc[m][1]);
      });
    }
    const __m512 b0 = _mm512_load_ps(p.b + g * kPanel), b1 = _mm512_load_ps(p.b + g * kPanel + 16);
    unrolled<MR>([&](auto m) {
      const __m512 sx = _mm512_set1_ps(acts[m].sx[g]);
      acc[m][0] = _mm512_fmadd_ps(b0, sx, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(b1, sx, acc[m][1]);
    });
  }
  const __mmask16 m0 = first_lanes(nr), m1 = nr > 16 ? first_lanes(nr - 16) : 0;
  unrolled<MR>([&](auto m) {
    _mm512_mask_storeu_ps(out[m] + n0, m0, acc[m][0]);
    _mm512_mask_storeu_ps(out[m] + n0 + 16, m1, acc[m][1]);
  });
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

}  // namespace

void gemm(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
                 void* s) {
  with_bits(w.bits, [&](auto b) {
    if (acts[0].q2) gemm_bits<b.value, 2>(w, acts, mcount, out, n0, n1, s);
    else gemm_bits<b.value, 1>(w, acts, mcount, out, n0, n1, s);
  });
}

namespace {

// ---- dense -----------------------------------------------------------------------

// Dense products of a few activation rows (decode, batched decode, an expert's tokens): each
// 16-value weight vector is converted in a register and feeds MB FMAs, 4 weight rows × 4
// activation rows of accumulators, the row sums by one add tree. Staging converted rows through
// memory (as the portable kernel does) ran 9-13 G multiply-adds/s a thread at M ≤ 8 and the panel
// GEMM below 39 at M = 8 (its transpose is paid per weight whatever M is); it wins from M ≈ 24.
constexpr int kDenseDirectMaxM = 24;

template <int T, int R, int MB>
void dense_direct_tile(const DenseMatrix& w, const float* const* x, float* const* out, int64_t n, const uint8_t* last) {
  constexpr size_t eb = T == MLXK_SCALE_F32 ? 4 : 2;
  const int64_t k = w.k;
  const uint8_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = w.w + (size_t)(n + r) * (size_t)k * eb;
  __m512 acc[MB][R];
  unrolled<MB>([&](auto mb) { unrolled<R>([&](auto r) { acc[mb][r] = _mm512_setzero_ps(); }); });
  for (int64_t l = 0; l < k; l += 16) {
    const __mmask16 km = first_lanes(k - l);
    if ((l * eb) % 64 == 0)
      for (int r = 0; r < R; ++r) prefetch_within(rows[r] + l * eb + kPrefetchBytes, last);
    __m512 xv[MB];
    unrolled<MB>([&](auto mb) { xv[mb] = _mm512_maskz_loadu_ps(km, x[mb] + l); });
    unrolled<R>([&](auto r) {
      const __m512 wv = load_f32x16(rows[r], l, km, T);
      unrolled<MB>([&](auto mb) { acc[mb][r] = _mm512_fmadd_ps(xv[mb], wv, acc[mb][r]); });
    });
  }
  store_tile<MB, R>(acc, out, n);
}

// bf16 weights, 32 values a step: a dword holds values 2i (low half) and 2i+1 (high half), so a
// shift and a mask make two float vectors of one 64-byte load, against the activations split
// into even and odd values once per call (xs: per 32 values, 16 even then 16 odd, zero past k).
// Widening 16 values with vpmovzxwd (dense_direct_tile, still the f16 and f32 path) costs a
// shuffle per 16 weights: at [4128, 256], one Zen 5 thread, M = 1 25-32 -> 40 and M = 8 66-68 -> 78
// G multiply-adds/s.
template <int R, int MB>
void dense_pairs_tile(const DenseMatrix& w, const float* const* xs, float* const* out, int64_t n, const uint8_t* last) {
  const int64_t k = w.k;
  const uint8_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = w.w + (size_t)(n + r) * (size_t)k * 2;
  const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
  __m512 acc[MB][R];
  unrolled<MB>([&](auto mb) { unrolled<R>([&](auto r) { acc[mb][r] = _mm512_setzero_ps(); }); });
  for (int64_t l = 0; l < k; l += 32) {
    const __mmask64 km = k - l >= 32 ? ~(__mmask64)0 : (((__mmask64)1 << (2 * (k - l))) - 1);  // bytes of the step's values
    for (int r = 0; r < R; ++r) prefetch_within(rows[r] + 2 * l + kPrefetchBytes, last);
    __m512 xe[MB], xo[MB];
    unrolled<MB>([&](auto mb) {
      xe[mb] = _mm512_load_ps(xs[mb] + l);
      xo[mb] = _mm512_load_ps(xs[mb] + l + 16);
    });
    unrolled<R>([&](auto r) {
      const __m512i raw = _mm512_maskz_loadu_epi8(km, rows[r] + 2 * l);
      const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(raw, 16)), odd = _mm512_castsi512_ps(_mm512_and_si512(raw, high));
      unrolled<MB>([&](auto mb) { acc[mb][r] = _mm512_fmadd_ps(xo[mb], odd, _mm512_fmadd_ps(xe[mb], even, acc[mb][r])); });
    });
  }
  store_tile<MB, R>(acc, out, n);
}

/** x's rows split as dense_pairs_tile reads them, into thread-local storage. */
const float* const* split_pairs(const float* const* x, int mcount, int64_t k) {
  thread_local std::vector<float> buf;
  thread_local std::vector<const float*> rows;
  const int64_t kp = (k + 31) / 32 * 32;
  if ((int64_t)buf.size() < mcount * kp + 16) buf.resize((size_t)(mcount * kp + 16));
  if ((int)rows.size() < mcount) rows.resize((size_t)mcount);
  float* base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
  alignas(64) static const int32_t even_idx[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  alignas(64) static const int32_t odd_idx[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  const __m512i ie = _mm512_load_si512(even_idx), io = _mm512_load_si512(odd_idx);
  for (int m = 0; m < mcount; ++m) {
    float* o = base + m * kp;
    for (int64_t l = 0; l < k; l += 32) {
      const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(k - l), x[m] + l);
      const __m512 hi = k - l > 16 ? _mm512_maskz_loadu_ps(first_lanes(k - l - 16), x[m] + l + 16) : _mm512_setzero_ps();
      _mm512_store_ps(o + l, _mm512_permutex2var_ps(lo, ie, hi));
      _mm512_store_ps(o + l + 16, _mm512_permutex2var_ps(lo, io, hi));
    }
    rows[(size_t)m] = o;
  }
  return rows.data();
}

template <int R>
void dense_pairs_rows(const DenseMatrix& w, const float* const* xs, int mcount, float* const* out, int64_t n, const uint8_t* last) {
  int m = 0;
  for (; m + 4 <= mcount; m += 4) dense_pairs_tile<R, 4>(w, xs + m, out + m, n, last);
  switch (mcount - m) {
    case 1: return dense_pairs_tile<R, 1>(w, xs + m, out + m, n, last);
    case 2: return dense_pairs_tile<R, 2>(w, xs + m, out + m, n, last);
    case 3: return dense_pairs_tile<R, 3>(w, xs + m, out + m, n, last);
    default: return;
  }
}

void dense_pairs(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1) {
  const uint8_t* last = last_byte(w.w, w.n, (size_t)w.k * 2);
  const float* const* xs = split_pairs(x, mcount, w.k);
  int64_t n = n0;
  if (mcount == 1)
    for (; n + 2 * kGemvRows <= n1; n += 2 * kGemvRows) dense_pairs_tile<2 * kGemvRows, 1>(w, xs, out, n, last);
  for (; n + kGemvRows <= n1; n += kGemvRows) dense_pairs_rows<kGemvRows>(w, xs, mcount, out, n, last);
  for (; n < n1; ++n) dense_pairs_rows<1>(w, xs, mcount, out, n, last);
}

/** Rows n … n+R−1 against every activation row, 4 at a time, while the rows are in L1. */
template <int T, int R>
void dense_direct_rows(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n, const uint8_t* last) {
  int m = 0;
  for (; m + 4 <= mcount; m += 4) dense_direct_tile<T, R, 4>(w, x + m, out + m, n, last);
  switch (mcount - m) {
    case 1: return dense_direct_tile<T, R, 1>(w, x + m, out + m, n, last);
    case 2: return dense_direct_tile<T, R, 2>(w, x + m, out + m, n, last);
    case 3: return dense_direct_tile<T, R, 3>(w, x + m, out + m, n, last);
    default: return;
  }
}

template <int T>
void dense_direct(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1) {
  const uint8_t* last = last_byte(w.w, w.n, (size_t)w.k * (T == MLXK_SCALE_F32 ? 4 : 2));
  int64_t n = n0;
  if (mcount == 1)
    for (; n + 2 * kGemvRows <= n1; n += 2 * kGemvRows) dense_direct_tile<T, 2 * kGemvRows, 1>(w, x, out, n, last);
  for (; n + kGemvRows <= n1; n += kGemvRows) dense_direct_rows<T, kGemvRows>(w, x, mcount, out, n, last);
  for (; n < n1; ++n) dense_direct_rows<T, 1>(w, x, mcount, out, n, last);
}

// Dense GEMM (M > 4): like the quantized GEMM, weight rows in lanes. A panel of 32 rows ×
// 256 values is converted to float and transposed to [k][32] (32 KiB, L1), then 6 × 32
// register tiles do broadcast-activation FMAs; partial sums live in `out` between panels.
constexpr int kDensePanelK = 256;
constexpr int kDenseTileM = 6;

template <int MR>
void dense_panel_tile(const float* panel, int64_t kc, const float* const* x, int64_t k0, int m, float* const* out,
                      int64_t n0, int nr) {
  const __mmask16 m0 = first_lanes(nr), m1 = nr > 16 ? first_lanes(nr - 16) : 0;
  __m512 acc[MR][2];
  for (int i = 0; i < MR; ++i) {
    acc[i][0] = k0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, out[m + i] + n0);
    acc[i][1] = k0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, out[m + i] + n0 + 16);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(panel + k * kPanel), w1 = _mm512_load_ps(panel + k * kPanel + 16);
    for (int i = 0; i < MR; ++i) {
      const __m512 xb = _mm512_set1_ps(x[m + i][k0 + k]);
      acc[i][0] = _mm512_fmadd_ps(w0, xb, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(w1, xb, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm512_mask_storeu_ps(out[m + i] + n0, m0, acc[i][0]);
    _mm512_mask_storeu_ps(out[m + i] + n0 + 16, m1, acc[i][1]);
  }
}

void dense_gemm(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1) {
  alignas(64) float panel[kDensePanelK * kPanel];
  const size_t eb = (size_t)mlxk_scale_bytes(w.dtype);
  for (int64_t n = n0; n < n1; n += kPanel) {
    const int nr = (int)min64(kPanel, n1 - n);
    for (int64_t k0 = 0; k0 < w.k; k0 += kDensePanelK) {
      const int64_t kc = min64(kDensePanelK, w.k - k0);
      for (int half = 0; half < 2; ++half) {
        for (int64_t k = 0; k < kc; k += 16) {
          __m512i r[16];
          for (int i = 0; i < 16; ++i) {
            const int row = 16 * half + i;
            const uint8_t* p = w.w + ((size_t)(n + row) * (size_t)w.k + (size_t)(k0 + k)) * eb;
            r[i] = row < nr ? _mm512_castps_si512(load_f32x16(p, 0, first_lanes(kc - k), w.dtype)) : _mm512_setzero_si512();
          }
          transpose16(r);
          for (int j = 0; j < 16 && k + j < kc; ++j) _mm512_store_si512(panel + (k + j) * kPanel + 16 * half, r[j]);
        }
      }
      int m = 0;
      for (; m + kDenseTileM <= mcount; m += kDenseTileM) dense_panel_tile<kDenseTileM>(panel, kc, x, k0, m, out, n, nr);
      switch (mcount - m) {
        case 1: dense_panel_tile<1>(panel, kc, x, k0, m, out, n, nr); break;
        case 2: dense_panel_tile<2>(panel, kc, x, k0, m, out, n, nr); break;
        case 3: dense_panel_tile<3>(panel, kc, x, k0, m, out, n, nr); break;
        case 4: dense_panel_tile<4>(panel, kc, x, k0, m, out, n, nr); break;
        case 5: dense_panel_tile<5>(panel, kc, x, k0, m, out, n, nr); break;
        default: break;
      }
    }
  }
}

}  // namespace

void dense(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1) {
  if (mcount > kDenseDirectMaxM) return dense_gemm(w, x, mcount, out, n0, n1);
  switch (w.dtype) {
    case MLXK_SCALE_BF16: return dense_pairs(w, x, mcount, out, n0, n1);
    case MLXK_SCALE_F16: return dense_direct<MLXK_SCALE_F16>(w, x, mcount, out, n0, n1);
    default: return dense_direct<MLXK_SCALE_F32>(w, x, mcount, out, n0, n1);
  }
}

}  // namespace avx512
}  // namespace mlxk

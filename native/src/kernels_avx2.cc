// AVX2 + FMA + F16C kernels (Haswell and later, Zen 1 and later). Compiled with
// those flags in its own library; internal linkage only (see kernels_avx512.cc).
//
// The GEMV and GEMM of every width work on the packed bytes (kernels_avx2_gemv.cc); this file
// quantizes activations, repacks 3-bit panels for long GEMM runs, and dispatches.
#include <cstring>

#include "avx2_common.h"

namespace mlxk {
namespace {

using avx2::min64;

#define MLXK_DENSE_FMA(a, b, c) __builtin_fmaf(a, b, c)
#include "dense_impl.h"

// ---- activations ---------------------------------------------------------

/** 4×8 int32 (within int8 range except +128, which saturates to 127) → 32 int8 in order. */
inline void store_int8x32(int8_t* dst, const __m256i q[4], __m256i order) {
  const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
  _mm256_storeu_si256((__m256i*)dst, _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), order));
}

void quantize_rows_avx2(const float* x, int64_t rows, int64_t ldx, ActBuffer& act) {
  const auto block = [](const float* src, int8_t* q, int8_t* q2) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(src + 8 * i);
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float db = amax / 127.0f, ids = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 id = _mm256_set1_ps(ids);
    __m256i qi[4];
    for (int i = 0; i < 4; ++i) qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));  // nearest even
    store_int8x32(q, qi, order);
    if (!q2) return db;
    const __m256 dv = _mm256_set1_ps(db), id2 = _mm256_set1_ps(ids * kPlane2Scale);
    __m256i ri[4];
    for (int i = 0; i < 4; ++i) {
      const __m256 r = _mm256_sub_ps(v[i], _mm256_mul_ps(dv, _mm256_cvtepi32_ps(qi[i])));
      ri[i] = _mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(r, id2)), _mm256_set1_epi32(-127));
    }
    store_int8x32(q2, ri, order);
    return db / kPlane2Scale;
  };
  quantize_rows_with(x, rows, ldx, act, block);
}

// ---- unpack (3 bits, for the repack below) -----------------------------------
// One vpshufb puts the two bytes holding value i into 16-bit lane i, vpmullw by 2^(16-B-o) moves it
// to the top of the lane (dropping the bits above it) and a shift by 16-B brings it down.

struct Unpacker {
  __m256i shuffle, mul;
};

template <int B>
Unpacker make_unpacker() {
  alignas(32) uint8_t shuf[32];
  alignas(32) uint16_t mul[16];
  for (int lane = 0; lane < 2; ++lane) {
    for (int i = 0; i < 8; ++i) {
      const int bit = i * B, byte = bit >> 3, off = bit & 7;
      shuf[16 * lane + 2 * i] = (uint8_t)byte;
      shuf[16 * lane + 2 * i + 1] = (uint8_t)(byte + 1 < 8 ? byte + 1 : 0x80);
      mul[8 * lane + i] = (uint16_t)(1u << (16 - B - off));
    }
  }
  return Unpacker{_mm256_load_si256((const __m256i*)shuf), _mm256_load_si256((const __m256i*)mul)};
}

/** Values 0..15 starting at p (2·B bytes) as 16-bit lanes. Reads 8 bytes at p and p+B. */
template <int B>
inline __m256i unpack16(const Unpacker& u, const uint8_t* p) {
  const __m128i lo = _mm_loadl_epi64((const __m128i*)p), hi = _mm_loadl_epi64((const __m128i*)(p + B));
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  return _mm256_srli_epi16(_mm256_mullo_epi16(_mm256_shuffle_epi8(v, u.shuffle), u.mul), 16 - B);
}

/**
 * A packed row of k values → k int16 values. unpack16 reads up to 6 bytes past its 2·B,
 * so the last two units go through a zero-padded copy and nothing past the row is read.
 */
template <int B>
void unpack_row(const Unpacker& u, const uint8_t* row, int64_t k, int16_t* out) {
  const int64_t units = k / 16, direct = units >= 2 ? units - 2 : 0;
  for (int64_t t = 0; t < direct; ++t) _mm256_storeu_si256((__m256i*)(out + 16 * t), unpack16<B>(u, row + 2 * B * t));
  alignas(32) uint8_t tail[48] = {0};
  std::memcpy(tail, row + 2 * B * direct, (size_t)(2 * B * (units - direct)));
  for (int64_t t = direct; t < units; ++t)
    _mm256_storeu_si256((__m256i*)(out + 16 * t), unpack16<B>(u, tail + 2 * B * (t - direct)));
}

// ---- 3-bit GEMM: rows repacked to 4 bits ----------------------------------------
// Values 0…7 fit a nibble, so a panel of 3-bit rows is rewritten in MLX's 4-bit layout (scales and
// biases unchanged) and multiplied by the 4-bit kernel: opening a 4-bit line takes 3 instructions
// for every four activation rows, a 3-bit line 13. The repack is paid once per row per task, so it
// wins only over enough activation rows (benchmarks/gemm-rows.ts, one thread, [1024, 2048], G
// multiply-adds/s repacked against direct: M = 8 11.1-11.5 / 13.5-13.7, 16 12.6-13.8 / 13.8-14.1,
// 32 13.9-14.7 / 13.7-13.8, 256 14.6-15.8 / 14.5-14.9).

constexpr int kRepackRows = 32;
constexpr int kPanelRows = 4;  // a GEMM task's rows: whole GEMV tiles of one activation row
constexpr int kRepackMinActivationRows = 32;

size_t repack_bytes(int64_t k) { return (size_t)kRepackRows * (size_t)(pad64(k) / 2) + sizeof(int16_t) * (size_t)pad64(k) + 64; }

/** A 3-bit row of k values → k/2 bytes of 4-bit codes (byte j = v[2j] | v[2j+1] << 4); tmp: pad64(k) int16. */
void repack3_row(const Unpacker& u, const uint8_t* row, int64_t k, int16_t* tmp, uint8_t* out) {
  unpack_row<3>(u, row, k, tmp);
  for (int64_t i = k; i < pad64(k); ++i) tmp[i] = 0;
  const __m256i pair = _mm256_set1_epi16(0x1001);  // bytes (1, 16): v[2j] + 16·v[2j+1]
  for (int64_t i = 0; i < k; i += 64) {
    // packus leaves [a0-7 b0-7 | a8-15 b8-15]; qwords 0 2 1 3 restore the order.
    const auto bytes = [&](int64_t at) {
      const __m256i a = _mm256_loadu_si256((const __m256i*)(tmp + at)), b = _mm256_loadu_si256((const __m256i*)(tmp + at + 16));
      return _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8);
    };
    const __m256i lo = _mm256_maddubs_epi16(bytes(i), pair), hi = _mm256_maddubs_epi16(bytes(i + 32), pair);
    const __m256i codes = _mm256_permute4x64_epi64(_mm256_packus_epi16(lo, hi), 0xD8);
    if (i + 64 <= k) _mm256_storeu_si256((__m256i*)(out + i / 2), codes);
    else _mm_storeu_si128((__m128i*)(out + i / 2), _mm256_castsi256_si128(codes));
  }
}

void gemm3_avx2(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  const Unpacker u = make_unpacker<3>();
  const size_t gemv_bytes = (avx2::gemv_scratch_bytes(w.k, w.group_size) + 63) / 64 * 64;
  uint8_t* panel = static_cast<uint8_t*>(s) + gemv_bytes;
  int16_t* tmp = reinterpret_cast<int16_t*>(panel + (size_t)kRepackRows * (size_t)(pad64(w.k) / 2));
  const size_t rb = row_bytes(w), srb = scale_row_bytes(w);
  for (int64_t nb = n0; nb < n1; nb += kRepackRows) {
    const int64_t rows = min64(kRepackRows, n1 - nb);
    for (int64_t r = 0; r < rows; ++r) repack3_row(u, w.w + (nb + r) * rb, w.k, tmp, panel + r * (w.k / 2));
    QuantMatrix p = w;
    p.w = panel;
    p.bits = 4;
    p.scales = w.scales + nb * srb;
    p.biases = w.biases + nb * srb;
    p.n = rows;
    for (int m = 0; m < mcount; m += kGemvMaxM) {
      float* o[kGemvMaxM];
      const int count = mcount - m < kGemvMaxM ? mcount - m : kGemvMaxM;
      for (int i = 0; i < count; ++i) o[i] = out[m + i] + nb;
      avx2::gemv(p, acts + m, count, o, 0, rows, s);
    }
  }
}

// 2, 3, 4 and 8 bits: the GEMV kernel on four activation rows at a time. A task's rows stay in L1/L2
// across the passes, and opening a line's bytes in registers once per four rows beats unpacking a
// row to int16 memory once for all of them (tiny-kimi pp512 on Zen 1: +40 % at 2 and 4 bits, where
// vpmaddubsw takes 32 products per instruction, +22 % at 8). 3 bits: repacked to 4 for long runs (above).
// 5 and 6 bits: 1.0-1.2x the rows unpacked once to int16 that they replace at M = 8-256.
void gemm_avx2(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
               void* s) {
  if (w.bits == 3 && mcount >= kRepackMinActivationRows) return gemm3_avx2(w, acts, mcount, out, n0, n1, s);
  for (int m = 0; m < mcount; m += kGemvMaxM)
    avx2::gemv(w, acts + m, mcount - m < kGemvMaxM ? mcount - m : kGemvMaxM, out + m, n0, n1, s);
}

void gemv_avx2(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1,
               void* s) {
  avx2::gemv(w, acts, mcount, out, n0, n1, s);
}

void dense_avx2(const DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0, int64_t n1) {
  if (avx2::dense_handles(w)) avx2::dense(w, x, mcount, out, n0, n1);
  else dense_rows(w, x, mcount, out, n0, n1);
}

size_t scratch_bytes(int64_t k, int gs) { return (avx2::gemv_scratch_bytes(k, gs) + 63) / 64 * 64 + repack_bytes(k); }

double read_pass_avx2(const uint8_t* p, size_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  const uint8_t* last = p + bytes - 1;
  for (size_t i = 0; i + 128 <= bytes; i += 128) {
    prefetch_within(p + i + 4096, last);
    prefetch_within(p + i + 4096 + 64, last);
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i*)(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i*)(p + i + 32)));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i*)(p + i + 64)));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i*)(p + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256((__m256i*)lanes, _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return (double)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
}

const Kernels kAvx2 = {
    "avx2", quantize_rows_avx2, gemv_avx2, gemm_avx2, kPanelRows, scratch_bytes, read_pass_avx2, dense_avx2, avx2::attend,
};

}  // namespace

const Kernels& avx2_kernels() { return kAvx2; }

}  // namespace mlxk

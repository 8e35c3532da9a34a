// AVX2 GEMV (M ≤ 4, decode; four activation rows at a time in a GEMM) for every width, straight from the packed bytes.
//
// One 32-byte load of a weight row is a "line" that becomes P byte vectors of values without
// leaving registers: 4 bits split each byte's nibbles (vector 0 the line's even values, vector 1
// its odd ones), 2 bits take the four 2-bit fields of each byte (vector i: values 4j+i). The
// activations are permuted into the same order once per call, so vpmaddubsw (unsigned weights ×
// signed activations, pairs → int16) and vpmaddwd by ones (→ int32) give per-lane integer dot
// products; dword lane l covers 32-block l / LANES of the line, and (scale · block scale) is applied
// per lane once per line. 8 bits, whose 255·127·2 would saturate vpmaddubsw's int16, widen the
// bytes to words in place (vpunpck{l,h}bw with zero) for vpmaddwd with int16 activations.
//
// 3 bits: a line is two 32-value blocks (24 bytes, 4 packs of 8 values in 3 bytes each), one per
// 128-bit half. Each value becomes a byte v·2^o with o ≤ 3, so vpmaddubsw can take 32 a vector
// without saturating (2·7·8·128 per int16, and two vectors summed): values wholly inside a byte at
// bits o ≤ 3 (A: values 0, 3, 6, 1 of a pack at o = 0 … 3) come from one vpshufb and a mask; the
// others (B: values 4, 7, 2, 5, two of them spanning two bytes) from a vpshufb of the byte and its
// successor into a word, shifted right by 4 (value 4 leaves bits 4–6 at 0–2, value 2's bits 6–8
// land at 2–4, …). Dword lane q of a half holds eight values of one o = q, so 2^−o is folded into
// the lane's activation block scale: no multiply or variable shift per value (Zen 1 runs every
// integer multiply on one pipe; the previous 16-bit form spent four vpmaddwd per 64 values).
//
// 5 and 6 bits: a line is one 32-value block, two half-lines of 16 values (2B bytes each), each
// broadcast to both 128-bit halves. One vpshufb puts into each 16-bit word the two bytes holding
// one value and a mask keeps its B bits where they lie: v·2^o, o = B·i mod 8 for value i of the
// half-line. Dword lane l pairs values l and l+8 (the same o), so vpmaddwd with int16 activations
// gives 2^o_l times the lane's dot product, and 2^−o_l is folded into the lane's activation block
// scale, as for the bytes of 3 bits: no multiply, variable shift or unpacked copy per value.
#include <cstring>

#include "avx2_common.h"

namespace mlxk {
namespace avx2 {
namespace {

/** 5 and 6 bits: values kept in 16-bit words where they lie (two half-lines a line). */
template <int B>
constexpr bool kWordLine = B == 5 || B == 6;

template <int B>
struct Line {
  static constexpr int P = B == 8 || B == 3 || kWordLine<B> ? 2 : 8 / B;  // activation vectors per line (5, 6, 8 bits: int16)
  static constexpr int V = B == 3 ? 64 : kWordLine<B> ? 32 : 256 / B;      // values per line
  static constexpr int LB = V * B / 8;                                     // packed bytes per line
  // Bytes one line's loads read: 3 bits 16 at 0 and at 12; 5 and 6 bits 16 at 0 and at 2B.
  static constexpr int LOAD = B == 3 ? 28 : kWordLine<B> ? 2 * B + 16 : 32;
  static constexpr int BLOCKS = V / kActBlock;               // 32-blocks per line
  static constexpr int LANES = 8 / BLOCKS;                   // dword lanes per block
};

/** 3 bits, dword lane q (o = q) of a half: the pack's value taken as A (one byte) and as B (a shifted word). */
constexpr int kPack3A[4] = {0, 3, 6, 1};
constexpr int kPack3B[4] = {4, 7, 2, 5};

// Prefetch distance in the matrix: the tile's rows are contiguous, so one linear address moving at
// the tile's consumption rate covers them all (Zen 1's stream prefetcher tracks few streams).
constexpr int kPrefetchBytes = 8192;
constexpr int kScalePrefetchTiles = 8;

inline int64_t pad8(int64_t n) { return (n + 7) / 8 * 8; }

template <int B>
int64_t line_count(int64_t k) {
  return (k + Line<B>::V - 1) / Line<B>::V;
}

/** Per-call scratch: activations in line order, per-lane block scales and Σx. */
struct Scratch {
  int8_t* xq;   // M × lines × P × 32
  int8_t* xq2;  // the second plane, same layout
  float* dl;    // M × lines × 8
  float* sx;    // M × gpad
};

size_t line_bytes_max(int64_t k) { return (size_t)(2 * pad64(k) + 128); }  // P·32·lines: 2 bytes per value at 5, 6, 8 bits
size_t lane_scales_max(int64_t k) { return (size_t)8 * (size_t)(pad64(k) / kActBlock + 1); }  // 8 per line, ≤ one line per block

Scratch scratch_at(void* p, int64_t k) {
  const size_t xb = kGemvMaxM * line_bytes_max(k);
  int8_t* xq = static_cast<int8_t*>(p);
  float* dl = reinterpret_cast<float*>(xq + 2 * xb);
  return Scratch{xq, xq + xb, dl, dl + kGemvMaxM * lane_scales_max(k)};
}

/**
 * count (< 8, not 4) 16-bit scales at p in the low words, by scalar and 64-bit loads of exactly those
 * bytes: assembled in memory instead (a zeroed stack buffer, memcpy, one 16-byte load) the load
 * cannot take its bytes from the pending stores and waits for them, ~30 cycles a row; [256, 128]
 * (2 groups of 64) ran at a third of [256, 256]'s rate. Out of line: inlined, it slowed the common
 * paths' loop by ~10 %.
 */
__attribute__((noinline)) __m128i partial_scales(const uint8_t* p, int64_t count) {
  const auto u16 = [p](int i) { uint16_t v; std::memcpy(&v, p + 2 * i, 2); return (int)v; };
  const auto u32 = [p](int i) { uint32_t v; std::memcpy(&v, p + 2 * i, 4); return (int)v; };
  switch (count) {
    case 7: return _mm_insert_epi16(_mm_insert_epi32(_mm_loadl_epi64((const __m128i*)p), u32(4), 2), u16(6), 6);
    case 6: return _mm_insert_epi32(_mm_loadl_epi64((const __m128i*)p), u32(4), 2);
    case 5: return _mm_insert_epi16(_mm_loadl_epi64((const __m128i*)p), u16(4), 4);
    case 3: return _mm_insert_epi16(_mm_cvtsi32_si128(u32(0)), u16(2), 2);
    case 2: return _mm_cvtsi32_si128(u32(0));
    default: return _mm_cvtsi32_si128(u16(0));
  }
}

/** The first `count` (≤ 8) scales or biases of dtype t at p as 8 float lanes, the rest 0. */
inline __m256 load_scales8(const uint8_t* p, int64_t count, int t) {
  if (t == MLXK_SCALE_F32) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps((const float*)p, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), lane));
  }
  __m128i h;
  if (count >= 8) {
    h = _mm_loadu_si128((const __m128i*)p);
  } else if (count == 4) {
    h = _mm_loadl_epi64((const __m128i*)p);
  } else {
    h = partial_scales(p, count);
  }
  return t == MLXK_SCALE_BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
}

// ---- activations in line order ---------------------------------------------------

/** 4 bits: per 64 values, the 32 even ones then the 32 odd ones. */
void nibble_order(const int8_t* x, int64_t lines, int8_t* out) {
  // Within each 16-byte half: evens to bytes 0-7, odds to 8-15.
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  for (int64_t c = 0; c < lines; ++c) {
    // qwords [e0 o0 e1 o1] → [e0 e1 o0 o1]: the evens of 32 values, then their odds.
    const __m256i a = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i*)(x + 64 * c)), split), 0xD8);
    const __m256i b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i*)(x + 64 * c + 32)), split), 0xD8);
    _mm256_storeu_si256((__m256i*)(out + 64 * c), _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_storeu_si256((__m256i*)(out + 64 * c + 32), _mm256_permute2x128_si256(a, b, 0x31));
  }
}

/** 2 bits: per 128 values, four vectors; byte j of vector i is value 4j + i. Values past kpad are zero. */
void crumb_order(const int8_t* x, int64_t kpad, int64_t lines, int8_t* out) {
  // Within each 16-byte half (values 4j … 4j+15): dword i gathers the four values ≡ i (mod 4).
  const __m256i gather = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                          0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  // Dwords [L0i0 L0i1 L0i2 L0i3 L1i0 …] → qword i = [L0 i, L1 i].
  const __m256i pair = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t c = 0; c < lines; ++c) {
    __m256i v[4];
    for (int t = 0; t < 4; ++t) {
      const int64_t at = 128 * c + 32 * t;
      v[t] = at < kpad ? _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i*)(x + at)), gather), pair)
                       : _mm256_setzero_si256();
    }
    // A 4×4 transpose of qwords: vector i = qword i of v[0 … 3].
    const __m256i lo01 = _mm256_unpacklo_epi64(v[0], v[1]), hi01 = _mm256_unpackhi_epi64(v[0], v[1]);
    const __m256i lo23 = _mm256_unpacklo_epi64(v[2], v[3]), hi23 = _mm256_unpackhi_epi64(v[2], v[3]);
    int8_t* o = out + 128 * c;
    _mm256_storeu_si256((__m256i*)o, _mm256_permute2x128_si256(lo01, lo23, 0x20));
    _mm256_storeu_si256((__m256i*)(o + 32), _mm256_permute2x128_si256(hi01, hi23, 0x20));
    _mm256_storeu_si256((__m256i*)(o + 64), _mm256_permute2x128_si256(lo01, lo23, 0x31));
    _mm256_storeu_si256((__m256i*)(o + 96), _mm256_permute2x128_si256(hi01, hi23, 0x31));
  }
}

/**
 * 3 bits: per 64 values (blocks 2c and 2c+1 in the low and high halves), vectors X (packs 0, 1 of
 * each block) and Y (packs 2, 3). Byte 4q + 2s + t of a half: pack s of the vector's two, value
 * kPack3B[q] (t = 0) or kPack3A[q] (t = 1) — the order line_dot<3> leaves the weights in.
 */
void pack3_order(const int8_t* x, int64_t lines, int8_t* out) {
  alignas(16) static const uint8_t order[16] = {
      kPack3B[0], kPack3A[0], 8 + kPack3B[0], 8 + kPack3A[0], kPack3B[1], kPack3A[1], 8 + kPack3B[1], 8 + kPack3A[1],
      kPack3B[2], kPack3A[2], 8 + kPack3B[2], 8 + kPack3A[2], kPack3B[3], kPack3A[3], 8 + kPack3B[3], 8 + kPack3A[3]};
  const __m256i o = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)order));
  for (int64_t c = 0; c < lines; ++c) {
    // Halves: the first 16 values (packs 0, 1) of each block, then the last 16.
    const __m256i lo = _mm256_loadu2_m128i((const __m128i*)(x + 64 * c + 32), (const __m128i*)(x + 64 * c));
    const __m256i hi = _mm256_loadu2_m128i((const __m128i*)(x + 64 * c + 48), (const __m128i*)(x + 64 * c + 16));
    _mm256_storeu_si256((__m256i*)(out + 64 * c), _mm256_shuffle_epi8(lo, o));
    _mm256_storeu_si256((__m256i*)(out + 64 * c + 32), _mm256_shuffle_epi8(hi, o));
  }
}

/** 5 and 6 bits: per 32 values, one int16 vector per half-line h; word w holds value 16h + 4(w / 8) + (w % 8) / 2 + 8(w % 2). */
void word_order(const int8_t* x, int64_t lines, int16_t* out) {
  const __m128i order = _mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  for (int64_t c = 0; c < lines; ++c)
    for (int h = 0; h < 2; ++h) {
      const __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(x + 32 * c + 16 * h)), order);
      _mm256_storeu_si256((__m256i*)(out + 32 * c + 16 * h), _mm256_cvtepi8_epi16(v));
    }
}

/** 8 bits: per 32 values, int16 vectors of values [0 … 7, 16 … 23] and [8 … 15, 24 … 31], as vpunpck{l,h}bw leave the bytes. */
void byte_order(const int8_t* x, int64_t lines, int16_t* out) {
  for (int64_t c = 0; c < lines; ++c) {
    const __m128i lo = _mm_loadu_si128((const __m128i*)(x + 32 * c)), hi = _mm_loadu_si128((const __m128i*)(x + 32 * c + 16));
    _mm256_storeu_si256((__m256i*)(out + 32 * c), _mm256_cvtepi8_epi16(_mm_unpacklo_epi64(lo, hi)));
    _mm256_storeu_si256((__m256i*)(out + 32 * c + 16), _mm256_cvtepi8_epi16(_mm_unpackhi_epi64(lo, hi)));
  }
}

template <int B>
void line_activations(const ActRow& a, int64_t kpad, int64_t lines, int8_t* xq, int8_t* xq2, float* dl) {
  using L = Line<B>;
  if constexpr (B == 8) {
    byte_order(a.q, lines, reinterpret_cast<int16_t*>(xq));
    if (a.q2) byte_order(a.q2, lines, reinterpret_cast<int16_t*>(xq2));
    for (int64_t c = 0; c < lines; ++c)
      for (int l = 0; l < 8; ++l) dl[8 * c + l] = a.d[c];
    return;
  } else if constexpr (kWordLine<B>) {
    word_order(a.q, lines, reinterpret_cast<int16_t*>(xq));
    if (a.q2) word_order(a.q2, lines, reinterpret_cast<int16_t*>(xq2));
    for (int64_t c = 0; c < lines; ++c)
      for (int l = 0; l < 8; ++l) dl[8 * c + l] = a.d[c] / (float)(1 << (B * l % 8));
    return;
  } else if constexpr (B == 3) {
    pack3_order(a.q, lines, xq);
    if (a.q2) pack3_order(a.q2, lines, xq2);
    for (int64_t c = 0; c < lines; ++c)
      for (int l = 0; l < 8; ++l) {
        const int64_t block = 2 * c + l / 4;
        dl[8 * c + l] = block < kpad / kActBlock ? a.d[block] / (float)(1 << (l % 4)) : 0.0f;
      }
    return;
  } else if constexpr (B == 4) {
    nibble_order(a.q, lines, xq);
    if (a.q2) nibble_order(a.q2, lines, xq2);
  } else {
    crumb_order(a.q, kpad, lines, xq);
    if (a.q2) crumb_order(a.q2, kpad, lines, xq2);
  }
  for (int64_t c = 0; c < lines; ++c)
    for (int l = 0; l < 8; ++l) {
      const int64_t block = L::BLOCKS * c + l / L::LANES;
      dl[8 * c + l] = block < kpad / kActBlock ? a.d[block] : 0.0f;
    }
}

// ---- tiles ---------------------------------------------------------------------

/** Per-call constants of a matrix. */
struct Rows {
  const QuantMatrix& w;
  int64_t groups, gpad, lines, direct_lines;  // direct_lines: lines whose load stays inside the row
  size_t rb, srb;
};

template <int B>
inline __m256i load_bytes(const uint8_t* p) {
  if constexpr (B == 3) return _mm256_loadu2_m128i((const __m128i*)(p + 12), (const __m128i*)p);
  else return _mm256_loadu_si256((const __m256i*)p);
}

/**
 * A row's last line when it has only `bytes` (a multiple of 4: k is a multiple of 32) left, by a
 * masked load that reads nothing past them (copied through a stack buffer, the load stalled on
 * the copy's stores). Out of line, to keep the hot loop's code as it was.
 */
template <int B>
__attribute__((noinline)) __m256i partial_line(const uint8_t* p, int64_t bytes) {
  const int* at = reinterpret_cast<const int*>(p);
  if constexpr (B == 3) {
    // Each half's 12 bytes apart; a missing second block reads as zero weights.
    const __m128i lane = _mm_setr_epi32(0, 1, 2, 8);
    const __m128i lo = _mm_maskload_epi32(at, _mm_cmpgt_epi32(_mm_set1_epi32((int)(bytes / 4)), lane));
    const __m128i hi = _mm_maskload_epi32(at + 3, _mm_cmpgt_epi32(_mm_set1_epi32((int)(bytes / 4) - 3), lane));
    return _mm256_set_m128i(hi, lo);
  }
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(bytes / 4)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_maskload_epi32(at, mask);
}

template <int B>
inline __m256i load_line(const Rows& mr, const uint8_t* row, int64_t c) {
  using L = Line<B>;
  if (c < mr.direct_lines) return load_bytes<B>(row + L::LB * c);
  // A row's last lines: nothing past the row is read (it may end the mapping). 3 bits: a whole last
  // line's second half reads the 16 bytes ending at the row's end and shifts its 12 into place.
  if constexpr (B == 3) {
    if (L::LB * (c + 1) == (int64_t)mr.rb) {
      const uint8_t* p = row + L::LB * c;
      return _mm256_set_m128i(_mm_srli_si128(_mm_loadu_si128((const __m128i*)(p + 8)), 4), _mm_loadu_si128((const __m128i*)p));
    }
  }
  return partial_line<B>(row + L::LB * c, min64((int64_t)mr.rb - L::LB * c, L::LB));
}

/** 5 and 6 bits: a line's two half-lines, each broadcast to both 128-bit halves. */
struct HalfLines {
  __m256i lo, hi;
};

template <int B>
inline HalfLines load_half_lines(const Rows& mr, const uint8_t* row, int64_t c) {
  const uint8_t* p = row + Line<B>::LB * c;
  const __m256i lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)p));
  if (c < mr.direct_lines) return {lo, _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)(p + 2 * B)))};
  // The row's last line (k is a multiple of 32, so whole): the 16 bytes ending at the row's end,
  // shifted down to the second half-line's 2B; the first half-line's 16 fit inside its 4B.
  const __m128i end = _mm_loadu_si128((const __m128i*)(row + mr.rb - 16));
  return {lo, _mm256_broadcastsi128_si256(_mm_srli_si128(end, 16 - 2 * B))};
}

/** Lines of a row of rb bytes whose LOAD-byte read ends inside it. */
template <int B>
int64_t direct_lines(size_t rb, int64_t lines) {
  using L = Line<B>;
  const int64_t n = rb >= (size_t)L::LOAD ? (int64_t)((rb - L::LOAD) / L::LB) + 1 : 0;
  return n < lines ? n : lines;
}

// 3 bits, vectors X (packs 0, 1 of each half) and Y (packs 2, 3), in pack3_order's byte order:
// `a` gathers the byte holding each A value (odd bytes), `b` each B value's byte and its successor
// (a word at even bytes, shifted right by 4 before use); the masks keep 3 bits at o = q in dword q.
struct Pack3 {
  __m256i a[2], b[2], mask_a, mask_b;
  Pack3() {
    // Byte of a pack holding A value q (bits 3q mod 8 …), and of B value q's low bits.
    constexpr int kByteA[4] = {0, 1, 2, 0}, kByteB[4] = {1, 2, 0, 1};
    alignas(32) uint8_t sa[2][32], sb[2][32], ma[32], mb[32];
    for (int v = 0; v < 2; ++v)
      for (int i = 0; i < 32; ++i) {
        const int q = i % 16 / 4, pack = 2 * v + i % 4 / 2, odd = i % 2;
        sa[v][i] = odd ? (uint8_t)(3 * pack + kByteA[q]) : 0x80;
        // Value 7 (q = 1) needs no successor; value 4's bits 4-6 also lie in one byte. ≤ 11: inside the half's 12 bytes.
        sb[v][i] = (uint8_t)(3 * pack + kByteB[q] + odd);
        if (odd && kByteB[q] == 2) sb[v][i] = 0x80;
        ma[i] = odd ? (uint8_t)(7 << q) : 0;
        mb[i] = odd ? 0 : (uint8_t)(7 << q);
      }
    for (int v = 0; v < 2; ++v) {
      a[v] = _mm256_load_si256((const __m256i*)sa[v]);
      b[v] = _mm256_load_si256((const __m256i*)sb[v]);
    }
    mask_a = _mm256_load_si256((const __m256i*)ma);
    mask_b = _mm256_load_si256((const __m256i*)mb);
  }
};

// 5 and 6 bits: the vpshufb control putting into word w the two bytes holding value
// 4(w / 8) + (w % 8) / 2 + 8(w % 2) of a half-line (see word_order), and the mask of its B bits.
template <int B>
struct WordLanes {
  __m256i shuffle, mask;
  WordLanes() {
    alignas(32) uint8_t sh[32];
    alignas(32) uint16_t mk[16];
    for (int w = 0; w < 16; ++w) {
      const int bit = B * (4 * (w / 8) + (w % 8) / 2 + 8 * (w % 2));
      sh[2 * w] = (uint8_t)(bit / 8);
      sh[2 * w + 1] = (uint8_t)(bit / 8 + 1);  // ≤ 2B − 1 + 1 < 16: inside the loaded bytes
      mk[w] = (uint16_t)(((1u << B) - 1) << (bit % 8));
    }
    shuffle = _mm256_load_si256((const __m256i*)sh);
    mask = _mm256_load_si256((const __m256i*)mk);
  }
};

template <int B>
inline __m256i half_lines_dot(const HalfLines& raw, const int8_t* x, const WordLanes<B>& wl) {
  const __m256i a = _mm256_and_si256(_mm256_shuffle_epi8(raw.lo, wl.shuffle), wl.mask);
  const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(raw.hi, wl.shuffle), wl.mask);
  return _mm256_add_epi32(_mm256_madd_epi16(a, _mm256_loadu_si256((const __m256i*)x)),
                          _mm256_madd_epi16(b, _mm256_loadu_si256((const __m256i*)(x + 32))));
}

/** Σ over the line's P vectors of (weights · activations), as 8 int32 lanes. */
template <int B>
inline __m256i line_dot(__m256i raw, const int8_t* x, const Pack3& p3) {
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (B == 3) {
    const auto weights = [&](int v) {
      return _mm256_or_si256(_mm256_and_si256(_mm256_shuffle_epi8(raw, p3.a[v]), p3.mask_a),
                             _mm256_and_si256(_mm256_srli_epi16(_mm256_shuffle_epi8(raw, p3.b[v]), 4), p3.mask_b));
    };
    return _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(weights(0), _mm256_loadu_si256((const __m256i*)x)),
                                              _mm256_maddubs_epi16(weights(1), _mm256_loadu_si256((const __m256i*)(x + 32)))),
                             ones);
  } else if constexpr (B == 8) {
    const __m256i zero = _mm256_setzero_si256();
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_unpacklo_epi8(raw, zero), _mm256_loadu_si256((const __m256i*)x)),
                            _mm256_madd_epi16(_mm256_unpackhi_epi8(raw, zero), _mm256_loadu_si256((const __m256i*)(x + 32))));
  } else {
    // Per int16 pair at most P·2·(2^B−1)·127 (7,620 at 4 bits, 3,048 at 2): no saturation.
    const __m256i mask = _mm256_set1_epi8((char)((1 << B) - 1));
    __m256i s16 = _mm256_maddubs_epi16(_mm256_and_si256(raw, mask), _mm256_loadu_si256((const __m256i*)x));
    for (int i = 1; i < Line<B>::P; ++i)
      s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, B * i), mask),
                                                       _mm256_loadu_si256((const __m256i*)(x + 32 * i))));
    return _mm256_madd_epi16(s16, ones);
  }
}

/** A width's line constants: 3 bits' byte gathers, 5 and 6 bits' word lanes. */
template <int B>
struct LineConsts {
  Pack3 p3;
  WordLanes<B> wl;
};

template <int B>
inline auto load_any(const Rows& mr, const uint8_t* row, int64_t c) {
  if constexpr (kWordLine<B>) return load_half_lines<B>(mr, row, c);
  else return load_line<B>(mr, row, c);
}

template <int B, class Raw>
inline __m256i dot_any(const Raw& raw, const int8_t* x, const LineConsts<B>& k) {
  if constexpr (kWordLine<B>) return half_lines_dot<B>(raw, x, k.wl);
  else return line_dot<B>(raw, x, k.p3);
}

template <int M, int R>
inline void store_tile(__m256 (&acc)[M][R], float* const* out, int64_t n) {
  for (int m = 0; m < M; ++m) {
    if constexpr (R == 4) {
      // hadd twice leaves each row's sum of a 128-bit half in lane r of that half.
      const __m256 q = _mm256_hadd_ps(_mm256_hadd_ps(acc[m][0], acc[m][1]), _mm256_hadd_ps(acc[m][2], acc[m][3]));
      _mm_storeu_ps(out[m] + n, _mm_add_ps(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1)));
    } else {
      for (int r = 0; r < R; ++r) out[m][n + r] = hsum8(acc[m][r]);
    }
  }
}

/**
 * Rows n … n+R−1 for M activation rows. The row's groups are walked in segments of 8, whose scales
 * are one register per row, loaded where they lie (staging a tile's scales through memory cost as
 * much as the products at k = 256); a segment's bias term Σ_g b_g·Σx_g enters the accumulator as
 * one b ⊙ Σx product.
 */
template <int B, int GS, int M, int R, int PL>
void tile(const Rows& mr, const Scratch& sc, const LineConsts<B>& lc, const ActRow* acts, float* const* out, int64_t n) {
  using L = Line<B>;
  constexpr int kSegmentLines = 8 * GS / L::V;
  constexpr bool kUniform = GS >= L::V;  // a line lies inside one group
  constexpr int kShift = GS == 32 ? 0 : GS == 64 ? 1 : 2;
  const QuantMatrix& w = mr.w;
  const int sb = mlxk_scale_bytes(w.scale_type);
  const uint8_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = w.w + (n + r) * mr.rb;
  // The scale lines of the tiles ahead: the weights' prefetch alone leaves them cold.
  const uint8_t *last_scale = last_byte(w.scales, prefetch_rows(w), mr.srb), *last_bias = last_byte(w.biases, prefetch_rows(w), mr.srb);
  for (size_t off = 0; off < R * mr.srb; off += 64) {
    prefetch_within(w.scales + (n + R * kScalePrefetchTiles) * mr.srb + off, last_scale);
    prefetch_within(w.biases + (n + R * kScalePrefetchTiles) * mr.srb + off, last_bias);
  }
  const uint8_t* pf = w.w + n * mr.rb + kPrefetchBytes;
  const uint8_t* last_weight = last_byte(w.w, prefetch_rows(w), mr.rb);
  const __m256i block_lanes = _mm256_setr_epi32(0 / L::LANES, 1 / L::LANES, 2 / L::LANES, 3 / L::LANES, 4 / L::LANES,
                                                5 / L::LANES, 6 / L::LANES, 7 / L::LANES);
  __m256 acc[M][R];
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm256_setzero_ps();
  for (int64_t g0 = 0, c0 = 0; g0 < mr.groups; g0 += 8, c0 += kSegmentLines) {
    const int64_t count = min64(8, mr.groups - g0);
    // A line inside one group takes its scale by a broadcast load (a load port) from `stage`; a
    // lane permute (vpermps, 3 µops on Zen 1) only where a line spans groups.
    __m256 srow[R];
    alignas(32) float stage[R][8];
    for (int r = 0; r < R; ++r) {
      const size_t at = (n + r) * mr.srb + (size_t)g0 * sb;
      const __m256 b = load_scales8(w.biases + at, count, w.scale_type);
      for (int m = 0; m < M; ++m) acc[m][r] = _mm256_fmadd_ps(b, _mm256_loadu_ps(sc.sx + m * mr.gpad + g0), acc[m][r]);
      srow[r] = load_scales8(w.scales + at, count, w.scale_type);
      if (kUniform) _mm256_store_ps(stage[r], srow[r]);
    }
    const int64_t c1 = min64(mr.lines, c0 + kSegmentLines);
    for (int64_t c = c0; c < c1; ++c) {
      for (int line = 0; line < R * L::LB; line += 64) prefetch_within(pf + c * R * L::LB + line, last_weight);
      // The group (within the segment) of each lane, or of the whole line when groups are that long.
      const int64_t line_group = (c - c0) * L::V / GS;
      const __m256i lanes = _mm256_srli_epi32(_mm256_add_epi32(block_lanes, _mm256_set1_epi32((int)(L::BLOCKS * (c - c0)))), kShift);
      for (int r = 0; r < R; ++r) {
        const auto raw = load_any<B>(mr, rows[r], c);
        const __m256 sl = kUniform ? _mm256_broadcast_ss(&stage[r][line_group]) : _mm256_permutevar8x32_ps(srow[r], lanes);
        for (int m = 0; m < M; ++m) {
          __m256i isum;
          __m256 dl;
          const size_t at = ((size_t)m * mr.lines + c) * L::P * 32;
          isum = dot_any<B>(raw, sc.xq + at, lc);
          if (PL == 2) isum = _mm256_add_epi32(_mm256_slli_epi32(isum, 8), dot_any<B>(raw, sc.xq2 + at, lc));
          dl = _mm256_loadu_ps(sc.dl + ((size_t)m * mr.lines + c) * 8);
          acc[m][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(sl, dl), acc[m][r]);
        }
      }
    }
  }
  store_tile<M, R>(acc, out, n);
}

template <int B, int GS, int M, int PL>
void gemv_m(const QuantMatrix& w, const ActRow* acts, float* const* out, int64_t n0, int64_t n1, void* scratch) {
  // Sixteen ymm registers: four rows per tile for one activation row, fewer as M grows.
  constexpr int R = M == 1 ? 4 : M == 2 ? 2 : 1;
  const int64_t groups = w.k / GS;
  const int64_t lines = line_count<B>(w.k);
  const Rows mr{w, groups, pad8(groups), lines, direct_lines<B>(row_bytes(w), lines), row_bytes(w), scale_row_bytes(w)};
  static const LineConsts<B> lc;
  const Scratch sc = scratch_at(scratch, w.k);
  for (int m = 0; m < M; ++m) {
    line_activations<B>(acts[m], pad64(w.k), mr.lines, sc.xq + (size_t)m * mr.lines * Line<B>::P * 32,
                        sc.xq2 + (size_t)m * mr.lines * Line<B>::P * 32, sc.dl + (size_t)m * mr.lines * 8);
    std::memcpy(sc.sx + m * mr.gpad, acts[m].sx, sizeof(float) * (size_t)groups);
    for (int64_t g = groups; g < mr.gpad; ++g) sc.sx[m * mr.gpad + g] = 0.0f;
  }
  int64_t n = n0;
  for (; n + R <= n1; n += R) tile<B, GS, M, R, PL>(mr, sc, lc, acts, out, n);
  for (; n < n1; ++n) tile<B, GS, M, 1, PL>(mr, sc, lc, acts, out, n);
}

template <int B>
void gemv_bits(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  with_group_size(w.group_size, [&](auto gs) {
    with_gemv_rows(mcount, [&](auto m) {
      if (acts[0].q2) gemv_m<B, gs.value, m.value, 2>(w, acts, out, n0, n1, s);
      else gemv_m<B, gs.value, m.value, 1>(w, acts, out, n0, n1, s);
    });
  });
}

}  // namespace

size_t gemv_scratch_bytes(int64_t k, int gs) {
  const size_t gpad = (size_t)pad8(k / gs);
  return 2 * kGemvMaxM * line_bytes_max(k) + sizeof(float) * (kGemvMaxM * lane_scales_max(k) + kGemvMaxM * gpad) + 64;
}

void gemv(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out, int64_t n0, int64_t n1, void* s) {
  switch (w.bits) {
    case 2: return gemv_bits<2>(w, acts, mcount, out, n0, n1, s);
    case 3: return gemv_bits<3>(w, acts, mcount, out, n0, n1, s);
    case 4: return gemv_bits<4>(w, acts, mcount, out, n0, n1, s);
    case 5: return gemv_bits<5>(w, acts, mcount, out, n0, n1, s);
    case 6: return gemv_bits<6>(w, acts, mcount, out, n0, n1, s);
    default: return gemv_bits<8>(w, acts, mcount, out, n0, n1, s);
  }
}

}  // namespace avx2
}  // namespace mlxk

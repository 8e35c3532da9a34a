// The interface between the dispatcher (qmatmul.cc) and the per-ISA kernels
// (kernels_scalar.cc, kernels_avx2.cc, kernels_avx512.cc, kernels_neon.cc).
//
// Every ISA computes the same thing: activations are quantized to int8 in
// blocks of 32 (absmax scaling, round to nearest even), each 32-block of a
// weight row is dotted with them in exact integer arithmetic, and the float
// epilogue folds scale and bias out of the inner loop:
//   y = Σ_groups [ s_g · Σ_{blocks j in g} d_j · I_j  +  b_g · Σ_{blocks j in g} d_j · Σ_{k in j} xq_k ]
// where I_j = Σ q_k·xq_k (int32) and d_j = absmax_j/127: the bias term's group sums are of
// the rounded activations (quantize_rows_with says why). Only the order of the other float
// additions differs by ISA.
//
// With two activation planes (16-bit activations), the residual r = x − d·xq is
// quantized again with step d/256 (xq2 = clamp(round(r·256/d), ±127)), the integer
// sum becomes I = 256·Σq·xq + Σq·xq2 (< 2^31) and d holds d/256: the same epilogue.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>

#include "mlxk_affine.h"

namespace mlxk {

constexpr int kActBlock = 32;

/** A quantized weight matrix [N, K] (one expert) in the MLX affine layout. */
struct QuantMatrix {
  const uint8_t* w;       // N rows of row_bytes
  const uint8_t* scales;  // N rows of K/group_size elements of scale_type
  const uint8_t* biases;
  int64_t n, k;
  int bits, group_size, scale_type;
  // Rows from w on that this call reads, when its caller reads the entries after it too (every
  // head of a per-head weight): the kernels' prefetches may run on into them. 0: n.
  int64_t read_rows = 0;
};

// Helpers are static (internal linkage) on purpose: the SIMD files are compiled with
// other -m flags, and an inline function with external linkage could be emitted there
// with AVX-512 instructions and then shared with the portable code by the linker.
static inline size_t row_bytes(const QuantMatrix& w) { return (size_t)w.k * w.bits / 8; }
static inline size_t scale_row_bytes(const QuantMatrix& w) {
  return (size_t)(w.k / w.group_size) * mlxk_scale_bytes(w.scale_type);
}

/** Matrix e of a stack [E, N, K] (an expert, or a head of a per-head weight); read_rows counts from stack entry 0. */
static inline QuantMatrix stack_entry(const QuantMatrix& w, int64_t e) {
  QuantMatrix m = w;
  m.w += (size_t)e * (size_t)w.n * row_bytes(w);
  m.scales += (size_t)e * (size_t)w.n * scale_row_bytes(w);
  m.biases += (size_t)e * (size_t)w.n * scale_row_bytes(w);
  m.read_rows = w.read_rows > e * w.n ? w.read_rows - e * w.n : 0;
  return m;
}

/**
 * Calls f(std::integral_constant<int, V>{}) for the first V of Vs equal to v, the last one when
 * none is, so a kernel is instantiated per value from one runtime choice:
 * with_one_of<32, 64, 128>(gs, [&](auto g) { run<g.value>(…); }).
 */
template <int V, int... Rest, class F>
static inline void with_one_of(int64_t v, F&& f) {
  if constexpr (sizeof...(Rest) == 0) {
    f(std::integral_constant<int, V>{});
  } else {
    if (v == V) f(std::integral_constant<int, V>{});
    else with_one_of<Rest...>(v, static_cast<F&&>(f));
  }
}

/** A supported bit width (anything else: 8). */
template <class F>
static inline void with_bits(int bits, F&& f) { with_one_of<2, 3, 4, 5, 6, 8>(bits, static_cast<F&&>(f)); }

/** An MLX group size (32, 64, else 128). */
template <class F>
static inline void with_group_size(int gs, F&& f) { with_one_of<32, 64, 128>(gs, static_cast<F&&>(f)); }

/** A GEMV's activation-row count 1 … kGemvMaxM (4). */
template <class F>
static inline void with_gemv_rows(int mcount, F&& f) { with_one_of<1, 2, 3, 4>(mcount, static_cast<F&&>(f)); }

/** An attention block's head count 1 … kAttendMaxHeads (8). */
template <class F>
static inline void with_heads(int64_t nh, F&& f) { with_one_of<1, 2, 3, 4, 5, 6, 7, 8>(nh, static_cast<F&&>(f)); }

/** A dense weight matrix [N, K] of bf16, f16 or f32 (MlxkScaleType codes), any alignment. */
struct DenseMatrix {
  const uint8_t* w;
  int64_t n, k;
  int dtype;
};

/** One quantized activation row (padded to a multiple of 64 values with zeros). */
struct ActRow {
  const int8_t* q;   // kpad values
  const int8_t* q2;  // second plane (kpad values) or nullptr
  const float* d;    // kpad/32 block scales (0 for padding; divided by 256 with two planes)
  const float* sx;   // k/group_size group sums of the rounded activations (Σ d·codes)
};

/** Activations quantized by quantize_rows, stored contiguously. */
struct ActBuffer {
  int64_t rows = 0, k = 0, kpad = 0;
  int group_size = 0;
  int8_t* q = nullptr;
  int8_t* q2 = nullptr;  // set when the caller wants two planes
  float* d = nullptr;
  float* sx = nullptr;
};

static inline ActRow act_row(const ActBuffer& a, int64_t i) {
  return ActRow{a.q + i * a.kpad, a.q2 ? a.q2 + i * a.kpad : nullptr, a.d + i * (a.kpad / kActBlock),
                a.sx + i * (a.k / a.group_size)};
}

// Second-plane constants: step d/256, values clamped to ±127 (a residual of exactly d/2
// would round to 128).
constexpr float kPlane2Scale = 256.0f;

// The walk every ISA's quantize_rows shares, so the layout cannot drift between them: blocks past
// k are zeroed; each real block of kActBlock floats goes to block(x, q, q2), which writes its int8
// codes (and the residual plane when q2 is not null) and returns the block's scale d.
//
// A group's sum for the affine bias term, Σ_g b_g·Σx, is taken over the rounded activations
// (Σ d·code), not the floats: then a product is exactly Σ w·x̂ of the dequantized weights w = s·q + b
// and activations x̂, whose rounding errors meet w, centred on zero, rather than s·q ≥ 0 (the bias
// term exact, the rest rounded). On tiny-kimi at 4 bits that took the int8 activations' KL against
// 16-bit ones from 9.4e-3 to the 5.4e-3 of rounding alone (benchmarks/activation-blocks.ts).
template <class Block>
inline void quantize_rows_with(const float* x, int64_t rows, int64_t ldx, ActBuffer& act, Block block) {
  const int64_t k = act.k, kpad = act.kpad;
  const int gs = act.group_size;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    const ActRow a = act_row(act, r);
    int8_t* q = const_cast<int8_t*>(a.q);
    int8_t* q2 = const_cast<int8_t*>(a.q2);
    float* d = const_cast<float*>(a.d);
    float* sx = const_cast<float*>(a.sx);
    for (int64_t b = 0; b < kpad / kActBlock; ++b) {
      const int64_t k0 = b * kActBlock;
      if (k0 >= k) {
        std::memset(q + k0, 0, kActBlock);
        if (q2) std::memset(q2 + k0, 0, kActBlock);
        d[b] = 0.0f;
        continue;
      }
      d[b] = block(xr + k0, q + k0, q2 ? q2 + k0 : nullptr);
    }
    const int64_t per_group = gs / kActBlock;
    for (int64_t g = 0; g < k / gs; ++g) {
      float s = 0.0f;
      for (int64_t b = g * per_group; b < (g + 1) * per_group; ++b) {
        const int8_t* qb = q + b * kActBlock;
        int32_t codes = 0;  // |Σ| ≤ 32 · (256·127 + 127): exact in int32 and in float
        if (q2) {
          for (int i = 0; i < kActBlock; ++i) codes += (int32_t)kPlane2Scale * qb[i] + q2[b * kActBlock + i];
        } else {
          for (int i = 0; i < kActBlock; ++i) codes += qb[i];
        }
        s += d[b] * (float)codes;
      }
      sx[g] = s;
    }
  }
}

static inline int64_t pad64(int64_t k) { return (k + 63) / 64 * 64; }

/**
 * Software prefetch of p, held back to `last` (a buffer's last byte): the kernels prefetch a fixed
 * distance ahead, and past a matrix's end may lie unmapped pages, where every prefetch costs a
 * failed page walk (a [256, 256] 4-bit GEMV at the top of the heap took 2.2× as long on Zen 1).
 */
static inline void prefetch_within(const void* p, const void* last) {
  __builtin_prefetch(p < last ? p : last, 0, 3);
}

/** Rows of w the kernels may prefetch from: its own, or more where the caller reads on (read_rows). */
static inline int64_t prefetch_rows(const QuantMatrix& w) { return w.read_rows > w.n ? w.read_rows : w.n; }

/**
 * f(0), f(1) … f(N−1), each index a compile-time constant. GCC keeps a register tile (a
 * `__m512 acc[4][4]`) in registers only when every access to it has a constant index once small
 * functions are inlined, which is before it unrolls loops: a tile walked by `for` loops stayed in
 * memory and was stored back on every step (16 stores to 16 FMAs in a 4 × 4 tile).
 */
template <typename F, int... I>
__attribute__((always_inline)) inline void unrolled_over(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, typename F>
__attribute__((always_inline)) inline void unrolled(F&& f) {
  unrolled_over(f, std::make_integer_sequence<int, N>{});
}

/** The last byte of count·stride bytes at base, for prefetch_within. */
static inline const uint8_t* last_byte(const uint8_t* base, int64_t count, size_t stride) {
  return base + (size_t)count * stride - 1;
}

/**
 * Per-thread scratch of the kernels that unpack R weight rows before their dot products (NEON, as
 * int8): the rows, then their scales and biases as float.
 */
template <class Q, int R>
struct UnpackedRows {
  Q* q;      // R × pad64(k)
  float* s;  // R × groups
  float* b;

  static size_t bytes(int64_t k, int gs) {
    return sizeof(Q) * R * (size_t)pad64(k) + 2 * sizeof(float) * R * (size_t)(k / gs) + 64;
  }
  static UnpackedRows at(void* p, int64_t k, int gs) {
    Q* q = static_cast<Q*>(p);
    float* s = reinterpret_cast<float*>(q + R * pad64(k));
    return UnpackedRows{q, s, s + R * (k / gs)};
  }
  /** Rows n … n+rows−1 of w: unpack(packed row, out) and load_scales(bytes, count, dtype, out). */
  template <class Unpack, class LoadScales>
  void fill(const QuantMatrix& w, int64_t n, int rows, Unpack unpack, LoadScales load_scales) const {
    const int64_t groups = w.k / w.group_size, kpad = pad64(w.k);
    const size_t srb = scale_row_bytes(w);
    for (int r = 0; r < rows; ++r) {
      unpack(w.w + (n + r) * row_bytes(w), q + r * kpad);
      load_scales(w.scales + (n + r) * srb, groups, w.scale_type, s + r * groups);
      load_scales(w.biases + (n + r) * srb, groups, w.scale_type, b + r * groups);
    }
  }
};

/**
 * Attention of nh query heads (q: nh rows of d floats, contiguous) over `visible` key and value
 * rows (k_stride / v_stride floats apart): out[h] = softmax(scale · q_h · Kᵀ) · V, dv floats per
 * head. `scores` is nh × visible floats of the caller's scratch. nh ≤ kAttendMaxHeads. With
 * `stats`, the rows are one range of a longer cache (model_attention's split of the keys): the
 * kernel also leaves each head's largest scaled score in stats[h] and Σ e^(score − it) in
 * stats[nh + h], from which the ranges' outputs are merged.
 */
struct AttendBlock {
  const float* q;
  int64_t d, nh;
  const float* k;
  int64_t k_stride;
  const float* v;
  int64_t v_stride;
  int64_t visible, dv;
  float scale;
  float* scores;
  float* out;
  float* stats;
};

constexpr int kAttendMaxHeads = 8;

// Cephes' expf, shared by the SIMD softmaxes: n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in
// two for precision), e^x = 2^n · (1 + r + r²·P(r)) with P's coefficients highest first.
constexpr float kExpLog2e = 1.44269504088896341f, kExpLn2Hi = 0.693359375f, kExpLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// The order in which the SIMD attention kernels walk a block, whatever their vector width: key rows
// in tiles of 4 then one by one (tile(kr, s), kr an integral_constant 4 or 1, s the first row), and
// query heads in pairs then a last single one (pair(nh, h), nh 2 or 1, h the first head).
template <class Tile>
static inline void for_key_tiles(int64_t visible, Tile&& tile) {
  int64_t s = 0;
  for (; s + 4 <= visible; s += 4) tile(std::integral_constant<int, 4>{}, s);
  for (; s < visible; ++s) tile(std::integral_constant<int, 1>{}, s);
}

template <int NH, class Pair>
static inline void for_head_pairs(Pair&& pair) {
  int64_t h = 0;
  for (; h + 2 <= NH; h += 2) pair(std::integral_constant<int, 2>{}, h);
  if (h < NH) pair(std::integral_constant<int, 1>{}, h);
}

// A long cache is walked in spans of keys whose rows stay in L2 while every head pair takes its
// scores and every group of heads and value chunk its sums: the rows come from memory once, where
// a pass per head pair and per chunk over all keys read them 2–4 times (on Zen 1, 8 heads of the
// 3 B model over 16K keys: 3.3× faster; benchmarks/results/batch-decode.md, eighth pass).
constexpr int64_t kAttendSpanBytes = 384 * 1024;

/** Keys per span for rows of row_floats floats: a multiple of 4, so the 4-key tiles fall as in one walk. */
static inline int64_t attend_span_keys(int64_t row_floats) {
  const int64_t n = kAttendSpanBytes / (4 * (row_floats > 0 ? row_floats : 1)) / 4 * 4;
  return n < 4 ? 4 : n;
}

/**
 * The attention kernels' walk over a block of heads, span by span, with the softmax kept
 * online as flash attention does: scores(s0, s1) writes the span's scores of every head into
 * a.scores; per head, e^(score − running max) replaces them (exp_sum(sc, n, m) returns their sum)
 * and, when the head's max rises, its sums so far are rescaled (scale(v, n, f)); values(s0, s1)
 * adds the span's probability-weighted value rows into a.out, zeros before the first span, while
 * they are still in L2 (absorbed MLA: the key rows just read). max_of(sc, n): the largest score.
 * Always inlined, so a kernel cloned per target (kernels_scalar.cc) keeps its steps in the clone.
 */
template <int NH = 0, class Scores, class MaxOf, class ExpSum, class Scale, class Values>
__attribute__((always_inline)) inline void attend_in_spans(const AttendBlock& a, Scores&& scores, MaxOf&& max_of, ExpSum&& exp_sum,
                                                           Scale&& scale, Values&& values) {
  // NH: the head count when a kernel instantiates one walk per count (its loops unroll), 0 for a.nh.
  const int64_t span = attend_span_keys(a.d > a.dv ? a.d : a.dv), nh = NH > 0 ? NH : a.nh;
  float m[kAttendMaxHeads] = {}, z[kAttendMaxHeads] = {};
  std::memset(a.out, 0, sizeof(float) * (size_t)(nh * a.dv));
  for (int64_t s0 = 0; s0 < a.visible; s0 += span) {
    const int64_t s1 = s0 + span < a.visible ? s0 + span : a.visible;
    scores(s0, s1);
    for (int64_t h = 0; h < nh; ++h) {
      float* sc = a.scores + h * a.visible + s0;
      const float mx = max_of(sc, s1 - s0);
      if (s0 == 0) {
        m[h] = mx;
      } else if (mx > m[h]) {
        const float f = std::exp(m[h] - mx);
        z[h] *= f;
        scale(a.out + h * a.dv, a.dv, f);
        m[h] = mx;
      }
      z[h] += exp_sum(sc, s1 - s0, m[h]);
    }
    values(s0, s1);
  }
  for (int64_t h = 0; h < nh; ++h) scale(a.out + h * a.dv, a.dv, 1.0f / z[h]);
  if (!a.stats) return;
  for (int64_t h = 0; h < nh; ++h) a.stats[h] = m[h], a.stats[nh + h] = z[h];
}

/**
 * The attention of nh heads over a cache split into `ranges` key ranges, from each range's
 * normalized output (outs + i·nh·dv) and stats (stats + i·2·nh, as AttendBlock leaves them):
 * out[h] = Σ_i w_i·out_i[h] / Σ_i w_i with w_i = z_i·e^(m_i − max_j m_j).
 */
static inline void attend_merge(const float* outs, const float* stats, int64_t ranges, int64_t nh, int64_t dv, float* out) {
  for (int64_t h = 0; h < nh; ++h) {
    float top = stats[h];
    for (int64_t i = 1; i < ranges; ++i) top = std::max(top, stats[i * 2 * nh + h]);
    float total = 0.0f;
    for (int64_t i = 0; i < ranges; ++i) total += stats[i * 2 * nh + nh + h] * std::exp(stats[i * 2 * nh + h] - top);
    float* o = out + h * dv;
    std::memset(o, 0, sizeof(float) * (size_t)dv);
    for (int64_t i = 0; i < ranges; ++i) {
      const float w = stats[i * 2 * nh + nh + h] * std::exp(stats[i * 2 * nh + h] - top) / total;
      const float* oi = outs + (i * nh + h) * dv;
      for (int64_t c = 0; c < dv; ++c) o[c] += w * oi[c];
    }
  }
}

/** The portable attention (kernels_scalar.cc; vectorized by the compiler): every ISA without its own. */
void attend_portable(const AttendBlock& a);

/**
 * Per-ISA kernel table.
 *   quantize_rows: x rows [rows, k] (row stride ldx floats) → act (allocated by the caller).
 *   gemv: out_rows[m][n] for n in [n0, n1), m < mcount ≤ kGemvMaxM, with each W row unpacked once.
 *   gemm: the same for any mcount; builds a panel of weight rows in `scratch` and reuses it for all m.
 * Both may use `scratch` (scratch_bytes(k, group_size) bytes, 64-byte aligned, owned by the calling thread).
 * out_rows[m] points at element 0 of output row m (N floats).
 */
struct Kernels {
  const char* name;
  void (*quantize_rows)(const float* x, int64_t rows, int64_t ldx, ActBuffer& act);
  void (*gemv)(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out_rows, int64_t n0, int64_t n1,
               void* scratch);
  void (*gemm)(const QuantMatrix& w, const ActRow* acts, int mcount, float* const* out_rows, int64_t n0, int64_t n1,
               void* scratch);
  int gemm_panel_rows;                         // n0 of gemm calls is a multiple of this
  size_t (*scratch_bytes)(int64_t k, int group_size);  // per-thread scratch for gemv and gemm (64-byte aligned)
  double (*read_bandwidth_pass)(const uint8_t* p, size_t bytes);  // sums the bytes; the result defeats dead-code removal
  // Dense weights: out_rows[m][n] for n in [n0, n1), float activations x_rows[m] (K floats each).
  void (*dense)(const DenseMatrix& w, const float* const* x_rows, int mcount, float* const* out_rows, int64_t n0,
                int64_t n1);
  void (*attend)(const AttendBlock& a);
};

constexpr int kGemvMaxM = 4;

const Kernels& scalar_kernels();
#if defined(__x86_64__) || defined(_M_X64)
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();
#endif
#if defined(__aarch64__)
const Kernels& neon_kernels();
#endif

}  // namespace mlxk

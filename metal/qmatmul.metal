// Metal kernels over the MLX affine layout, y[m, n] = Σ_k x[m, k]·W[n, k], sharing the
// unpack/dequantize math with the C++ kernels (native/include/mlxk_affine.h, tested
// on every CI run). Float activations, float accumulation. Weights, scales and biases
// are byte buffers read through the header's alignment-free loaders, so tensors can
// be bound at any offset inside a memory-mapped safetensors file.
// Not compiled here (no Mac in CI); host dispatch is left to the Metal backend.
#include <metal_stdlib>
using namespace metal;

#include "../native/include/mlxk_affine.h"

struct QArgs {
  uint m;            // activation rows
  uint n;            // weight rows (outputs per activation row)
  uint k;            // values per row
  uint group_size;   // 32, 64 or 128
  uint scale_type;   // MlxkScaleType
  ulong expert_w;    // bytes between experts in w (gather kernels)
  ulong expert_s;    // bytes between experts in scales/biases
};

// ---- GEMV (decode): 2 simdgroups × 4 rows per threadgroup; each lane takes every 32nd pack.

constant constexpr int kRowsPerSimd = 4;
constant constexpr int kSimdsPerGroup = 2;

template <int B>
inline void qgemv_rows(const device uchar* w, const device uchar* scales, const device uchar* biases,
                       const device float* x, device float* y, constant QArgs& a, uint row0, uint lane) {
  const ulong row_bytes = mlxk_row_bytes(a.k, B);
  const uint groups = a.k / a.group_size;
  float acc[kRowsPerSimd] = {0, 0, 0, 0};
  for (uint j = lane; j < a.k / MLXK_PACK_VALUES; j += 32) {
    float xv[MLXK_PACK_VALUES];
    float sum_x = 0;
    for (int i = 0; i < MLXK_PACK_VALUES; ++i) {
      xv[i] = x[j * MLXK_PACK_VALUES + i];
      sum_x += xv[i];
    }
    const uint g = j * MLXK_PACK_VALUES / a.group_size;
    for (int r = 0; r < kRowsPerSimd; ++r) {
      const uint row = min(row0 + r, a.n - 1);  // rows past the end recompute the last one; never stored
      const mlxk_u64 pack = mlxk_load_pack<B>(w + row * row_bytes, j);
      const float s = mlxk_load_scale(scales, (ulong)row * groups + g, (int)a.scale_type);
      const float b = mlxk_load_scale(biases, (ulong)row * groups + g, (int)a.scale_type);
      acc[r] += s * mlxk_pack_dot<B>(pack, xv) + b * sum_x;  // bias folded out: b·Σx
    }
  }
  for (int r = 0; r < kRowsPerSimd; ++r) {
    const float total = simd_sum(acc[r]);
    if (lane == 0 && row0 + r < a.n) y[row0 + r] = total;
  }
}

// Grid: (ceil(n / 8), m) threadgroups of (32, 2) threads.
template <int B>
[[kernel]] void qgemv(const device uchar* w [[buffer(0)]], const device uchar* scales [[buffer(1)]],
                      const device uchar* biases [[buffer(2)]], const device float* x [[buffer(3)]],
                      device float* y [[buffer(4)]], constant QArgs& a [[buffer(5)]],
                      uint2 tg [[threadgroup_position_in_grid]], uint simd [[simdgroup_index_in_threadgroup]],
                      uint lane [[thread_index_in_simdgroup]]) {
  const uint row0 = (tg.x * kSimdsPerGroup + simd) * kRowsPerSimd;
  qgemv_rows<B>(w, scales, biases, x + (ulong)tg.y * a.k, y + (ulong)tg.y * a.n, a, row0, lane);
}

// MoE: one (row, expert) pair per grid z; like MLX gather_qmm with M = 1 per pair.
// Grid: (ceil(n / 8), 1, pairs) threadgroups of (32, 2) threads.
template <int B>
[[kernel]] void qgemv_gather(const device uchar* w [[buffer(0)]], const device uchar* scales [[buffer(1)]],
                             const device uchar* biases [[buffer(2)]], const device float* x [[buffer(3)]],
                             device float* y [[buffer(4)]], constant QArgs& a [[buffer(5)]],
                             const device int* row_index [[buffer(6)]], const device int* expert_index [[buffer(7)]],
                             uint3 tg [[threadgroup_position_in_grid]], uint simd [[simdgroup_index_in_threadgroup]],
                             uint lane [[thread_index_in_simdgroup]]) {
  const uint row0 = (tg.x * kSimdsPerGroup + simd) * kRowsPerSimd;
  const ulong e = (ulong)expert_index[tg.z];
  qgemv_rows<B>(w + e * a.expert_w, scales + e * a.expert_s, biases + e * a.expert_s,
                x + (ulong)row_index[tg.z] * a.k, y + (ulong)tg.z * a.n, a, row0, lane);
}

// ---- GEMM (prefill): 32×32 output tile per threadgroup of 16×16 threads, 2×2 outputs each;
// each 32-wide K step stages x and the dequantized weights in threadgroup memory.

constant constexpr int kTile = 32;

// Grid: (ceil(n / 32), ceil(m / 32)) threadgroups of (16, 16) threads.
template <int B>
[[kernel]] void qgemm(const device uchar* w [[buffer(0)]], const device uchar* scales [[buffer(1)]],
                      const device uchar* biases [[buffer(2)]], const device float* x [[buffer(3)]],
                      device float* y [[buffer(4)]], constant QArgs& a [[buffer(5)]],
                      uint2 tg [[threadgroup_position_in_grid]], uint2 tid [[thread_position_in_threadgroup]]) {
  threadgroup float xs[kTile][kTile + 1];
  threadgroup float ws[kTile][kTile + 1];
  const ulong row_bytes = mlxk_row_bytes(a.k, B);
  const uint groups = a.k / a.group_size;
  const uint n0 = tg.x * kTile, m0 = tg.y * kTile;
  const uint t = tid.y * 16 + tid.x;
  float acc[2][2] = {{0, 0}, {0, 0}};
  for (uint k0 = 0; k0 < a.k; k0 += kTile) {
    for (uint i = t; i < kTile * kTile; i += 256) {
      const uint r = i / kTile, c = i % kTile;
      const uint m = min(m0 + r, a.m - 1), n = min(n0 + r, a.n - 1);
      xs[r][c] = x[(ulong)m * a.k + k0 + c];
      const ulong gi = (ulong)n * groups + (k0 + c) / a.group_size;
      const mlxk_u32 q = mlxk_row_value<B>(w + n * row_bytes, k0 + c);
      ws[r][c] = mlxk_dequant(q, mlxk_load_scale(scales, gi, (int)a.scale_type), mlxk_load_scale(biases, gi, (int)a.scale_type));
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int c = 0; c < kTile; ++c)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) acc[i][j] += xs[tid.y * 2 + i][c] * ws[tid.x * 2 + j][c];
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      const uint m = m0 + tid.y * 2 + i, n = n0 + tid.x * 2 + j;
      if (m < a.m && n < a.n) y[(ulong)m * a.n + n] = acc[i][j];
    }
}

#define MLXK_INSTANTIATE(B)                                                       \
  template [[host_name("qgemv_b" #B)]] [[kernel]] decltype(qgemv<B>) qgemv<B>;    \
  template [[host_name("qgemv_gather_b" #B)]] [[kernel]] decltype(qgemv_gather<B>) qgemv_gather<B>; \
  template [[host_name("qgemm_b" #B)]] [[kernel]] decltype(qgemm<B>) qgemm<B>;

MLXK_INSTANTIATE(2)
MLXK_INSTANTIATE(3)
MLXK_INSTANTIATE(4)
MLXK_INSTANTIATE(5)
MLXK_INSTANTIATE(6)
MLXK_INSTANTIATE(8)

// Dense (non-quantized) matmul, y[m, n] = Σ_k x[m, k] · W[n, k] with W in bf16, f16 or f32
// at any alignment. One portable source included by every kernel file inside its
// anonymous namespace, so each copy is auto-vectorized for that file's instruction set
// (the 16 independent lane sums below map onto SIMD registers; no reassociation needed).
// Needs MLXK_DENSE_FMA(a, b, c) = a·b + c defined by the includer.
#pragma once
#include <cstring>

#include "kernels.h"

constexpr int kDenseChunk = 512;  // values of 4 weight rows converted to float at a time (8 KiB)
constexpr int kDenseRows = 4;

inline float dense_load(const uint8_t* p, int64_t i, int dtype) {
  if (dtype == MLXK_SCALE_BF16) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  if (dtype == MLXK_SCALE_F32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return mlxk_f16_bits_to_f32(h);
}

inline void dense_convert(const uint8_t* p, int64_t count, int dtype, float* out) {
  if (dtype == MLXK_SCALE_BF16) {
    for (int64_t i = 0; i < count; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      const uint32_t u = (uint32_t)h << 16;
      std::memcpy(out + i, &u, 4);
    }
  } else if (dtype == MLXK_SCALE_F32) {
    std::memcpy(out, p, (size_t)count * 4);
  } else {
    for (int64_t i = 0; i < count; ++i) out[i] = dense_load(p, i, dtype);
  }
}

constexpr int kDensePrefetchBytes = 16384;

/** Σ over 16 lanes then the scalar tail: the same order on every path. */
template <int R, int MB>
inline void dense_finish(float (&acc)[MB][R][16], const float* const* x, const float (&wf)[R][kDenseChunk], int64_t kv,
                         int64_t kc, int64_t k0, int m0, float* const* out, int64_t n) {
  for (int mb = 0; mb < MB; ++mb)
    for (int r = 0; r < R; ++r) {
      float s = 0.0f;
      for (int l = 0; l < 16; ++l) s += acc[mb][r][l];
      for (int64_t l = kv; l < kc; ++l) s = MLXK_DENSE_FMA(x[m0 + mb][k0 + l], wf[r][l], s);
      float* o = out[m0 + mb] + n + r;
      *o = k0 == 0 ? s : *o + s;
    }
}

// R weight rows, converted to float once per chunk and reused by every activation row,
// MB activation rows at a time so each converted weight vector feeds MB FMAs.
template <int R>
void dense_block(const mlxk::DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n) {
  alignas(64) float wf[R][kDenseChunk];
  const size_t eb = (size_t)mlxk_scale_bytes(w.dtype);
  const uint8_t* last = mlxk::last_byte(w.w, w.n, (size_t)w.k * eb);
  for (int64_t k0 = 0; k0 < w.k; k0 += kDenseChunk) {
    const int64_t kc = w.k - k0 < kDenseChunk ? w.k - k0 : kDenseChunk;
    const int64_t kv = kc / 16 * 16;
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w.w + ((size_t)(n + r) * (size_t)w.k + (size_t)k0) * eb;
      for (size_t off = 0; off < (size_t)kc * eb; off += 64) mlxk::prefetch_within(src + kDensePrefetchBytes + off, last);
      dense_convert(src, kc, w.dtype, wf[r]);
    }
    int m = 0;
    for (; m + 3 <= mcount; m += 3) {
      float acc[3][R][16] = {};
      for (int64_t l0 = 0; l0 < kv; l0 += 16)
        for (int mb = 0; mb < 3; ++mb)
          for (int r = 0; r < R; ++r)
            for (int l = 0; l < 16; ++l) acc[mb][r][l] = MLXK_DENSE_FMA(x[m + mb][k0 + l0 + l], wf[r][l0 + l], acc[mb][r][l]);
      dense_finish<R, 3>(acc, x, wf, kv, kc, k0, m, out, n);
    }
    for (; m < mcount; ++m) {
      float acc[1][R][16] = {};
      for (int64_t l0 = 0; l0 < kv; l0 += 16)
        for (int r = 0; r < R; ++r)
          for (int l = 0; l < 16; ++l) acc[0][r][l] = MLXK_DENSE_FMA(x[m][k0 + l0 + l], wf[r][l0 + l], acc[0][r][l]);
      dense_finish<R, 1>(acc, x, wf, kv, kc, k0, m, out, n);
    }
  }
}

inline void dense_rows(const mlxk::DenseMatrix& w, const float* const* x, int mcount, float* const* out, int64_t n0,
                       int64_t n1) {
  int64_t n = n0;
  for (; n + kDenseRows <= n1; n += kDenseRows) dense_block<kDenseRows>(w, x, mcount, out, n);
  for (; n < n1; ++n) dense_block<1>(w, x, mcount, out, n);
}

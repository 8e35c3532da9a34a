#include "gptq_linalg.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dispatch.h"
#include "simd_clones.h"


namespace mlxk {
namespace {

constexpr int kTileRows = 4;
constexpr int kTileCols = 32;

constexpr int64_t kDepth = 256;  // p per pass: a 256×32 strip of B (64 KB) stays in L2 across all row tiles

// Rows [i0, i1) of C −= A·B; with `lower`, a row tile starting at i stops at column i + kTileRows.
// Passes over p in slices of kDepth, and within a slice strip by strip, so each strip of B is
// read from memory once per slice for all the rows instead of once per row tile; every C[i, j]
// still takes its terms in ascending p (stored and reloaded between slices, which is exact).
MLXK_SIMD_CLONES
void gemm_sub_rows(double* c, int64_t ldc, const double* a, int64_t lda, const double* b, int64_t ldb, int64_t i0, int64_t i1,
                   int64_t n, int64_t k, bool lower) {
  const int64_t tiled = i0 + (i1 - i0) / kTileRows * kTileRows;
  auto jmax = [&](int64_t i, int64_t h) { return lower ? std::min(n, i + h) : n; };
  for (int64_t p0 = 0; p0 < k; p0 += kDepth) {
    const int64_t p1 = std::min(k, p0 + kDepth);
    for (int64_t j = 0; j + kTileCols <= n; j += kTileCols) {
      for (int64_t i = i0; i < tiled; i += kTileRows) {
        if (j + kTileCols <= jmax(i, kTileRows)) {
          double acc[kTileRows][kTileCols];
          for (int r = 0; r < kTileRows; ++r)
            for (int q = 0; q < kTileCols; ++q) acc[r][q] = c[(i + r) * ldc + j + q];
          for (int64_t p = p0; p < p1; ++p) {
            const double* bp = b + p * ldb + j;
            for (int r = 0; r < kTileRows; ++r) {
              const double av = a[(i + r) * lda + p];
              for (int q = 0; q < kTileCols; ++q) acc[r][q] -= av * bp[q];
            }
          }
          for (int r = 0; r < kTileRows; ++r)
            for (int q = 0; q < kTileCols; ++q) c[(i + r) * ldc + j + q] = acc[r][q];
        }
      }
    }
    // The columns past a tile's last whole strip, then the rows past the last whole tile.
    for (int64_t i = i0; i < tiled; i += kTileRows) {
      const int64_t jm = jmax(i, kTileRows);
      for (int r = 0; r < kTileRows; ++r)
        for (int64_t jj = jm / kTileCols * kTileCols; jj < jm; ++jj) {
          double v = c[(i + r) * ldc + jj];
          for (int64_t p = p0; p < p1; ++p) v -= a[(i + r) * lda + p] * b[p * ldb + jj];
          c[(i + r) * ldc + jj] = v;
        }
    }
    // Single rows: one row of strips (a task of a few rows, or a refit's few rejected rows, must
    // not fall to one dependent chain per element).
    for (int64_t i = tiled; i < i1; ++i) {
      const int64_t jm = jmax(i, 1);
      int64_t j = 0;
      for (; j + kTileCols <= jm; j += kTileCols) {
        double acc[kTileCols];
        for (int q = 0; q < kTileCols; ++q) acc[q] = c[i * ldc + j + q];
        for (int64_t p = p0; p < p1; ++p) {
          const double av = a[i * lda + p];
          const double* bp = b + p * ldb + j;
          for (int q = 0; q < kTileCols; ++q) acc[q] -= av * bp[q];
        }
        for (int q = 0; q < kTileCols; ++q) c[i * ldc + j + q] = acc[q];
      }
      for (int64_t jj = j; jj < jm; ++jj) {
        double v = c[i * ldc + jj];
        for (int64_t p = p0; p < p1; ++p) v -= a[i * lda + p] * b[p * ldb + jj];
        c[i * ldc + jj] = v;
      }
    }
  }
}

// Columns [j0, j0 + kTileCols) of x = L⁻¹, rows j0…n−1 (n a multiple of kTileCols):
// x[i, j] = −(Σ_{p=j}^{i−1} l[i, p]·x[p, j]) / l[i, i], summed from p = j0 (the zeros above
// the diagonal add nothing) across the columns at once. Rows go kTileRows at a time: the
// terms p < i are shared by the tile's rows (each row of x read once for all of them), then
// each row adds the terms of the tile's earlier rows, still in ascending p.
MLXK_SIMD_CLONES
void lower_inverse_cols(const double* l, double* x, int64_t n, int64_t j0) {
  for (int64_t i = j0; i < n; i += kTileRows) {
    double acc[kTileRows][kTileCols];
    for (int r = 0; r < kTileRows; ++r)
      for (int q = 0; q < kTileCols; ++q) acc[r][q] = 0.0;
    for (int64_t p = j0; p < i; ++p) {
      const double* xp = x + p * n + j0;
      for (int r = 0; r < kTileRows; ++r) {
        const double lv = l[(i + r) * n + p];
        for (int q = 0; q < kTileCols; ++q) acc[r][q] += lv * xp[q];
      }
    }
    for (int r = 0; r < kTileRows; ++r) {
      const int64_t ir = i + r;
      for (int rr = 0; rr < r; ++rr) {
        const double lv = l[ir * n + i + rr];
        const double* xp = x + (i + rr) * n + j0;
        for (int q = 0; q < kTileCols; ++q) acc[r][q] += lv * xp[q];
      }
      for (int q = 0; q < kTileCols; ++q) {
        const int64_t j = j0 + q;
        if (ir == j) x[ir * n + j] = 1.0 / l[ir * n + ir];
        else if (ir > j) x[ir * n + j] = -acc[r][q] / l[ir * n + ir];
      }
    }
  }
}

}  // namespace

void gemm_sub(double* c, int64_t ldc, const double* a, int64_t lda, const double* b, int64_t ldb, int64_t m, int64_t n,
              int64_t k, bool lower) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  // Tasks of whole row tiles; with `lower` the work per row grows with i, so tasks are small.
  const int64_t per = std::max<int64_t>(kTileRows, ((m / (thread_count() * 8)) / kTileRows) * kTileRows);
  const int64_t tasks = (m + per - 1) / per;
  if (tasks == 1) return gemm_sub_rows(c, ldc, a, lda, b, ldb, 0, m, n, k, lower);
  parallel_for(tasks, [&](int64_t t, int) { gemm_sub_rows(c, ldc, a, lda, b, ldb, t * per, std::min(m, (t + 1) * per), n, k, lower); });
}

void gemm_sub_serial(double* c, int64_t ldc, const double* a, int64_t lda, const double* b, int64_t ldb, int64_t m, int64_t n,
                     int64_t k) {
  if (m > 0 && n > 0 && k > 0) gemm_sub_rows(c, ldc, a, lda, b, ldb, 0, m, n, k, false);
}

bool cholesky_lower(double* a, int64_t n) {
  constexpr int64_t kPanel = 64;
  std::vector<double> pt;
  for (int64_t k0 = 0; k0 < n; k0 += kPanel) {
    const int64_t k1 = std::min(n, k0 + kPanel);
    // Diagonal block, column by column (the earlier panels are already subtracted).
    for (int64_t j = k0; j < k1; ++j) {
      double s = a[j * n + j];
      for (int64_t p = k0; p < j; ++p) s -= a[j * n + p] * a[j * n + p];
      if (!(s > 0) || !std::isfinite(s)) return false;
      const double d = std::sqrt(s);
      a[j * n + j] = d;
      for (int64_t i = j + 1; i < k1; ++i) {
        double t = a[i * n + j];
        for (int64_t p = k0; p < j; ++p) t -= a[i * n + p] * a[j * n + p];
        a[i * n + j] = t / d;
      }
    }
    if (k1 == n) break;
    // Panel rows below the block, independent of each other.
    const int64_t below = n - k1;
    auto panel = [&](int64_t i0, int64_t i1) {
      for (int64_t i = k1 + i0; i < k1 + i1; ++i) {
        for (int64_t j = k0; j < k1; ++j) {
          double t = a[i * n + j];
          for (int64_t p = k0; p < j; ++p) t -= a[i * n + p] * a[j * n + p];
          a[i * n + j] = t / a[j * n + j];
        }
      }
    };
    const int64_t per = std::max<int64_t>(16, below / (thread_count() * 4));
    parallel_for((below + per - 1) / per, [&](int64_t t, int) { panel(t * per, std::min(below, (t + 1) * per)); });
    // Trailing lower triangle −= panel·panelᵀ, with the panel transposed so columns are contiguous.
    const int64_t w = k1 - k0;
    pt.assign((size_t)(w * below), 0.0);
    for (int64_t i = 0; i < below; ++i)
      for (int64_t p = 0; p < w; ++p) pt[(size_t)(p * below + i)] = a[(k1 + i) * n + k0 + p];
    gemm_sub(a + k1 * n + k1, n, a + k1 * n + k0, n, pt.data(), below, below, below, w, true);
  }
  return true;
}

void lower_inverse(const double* l, double* x, int64_t n) {
  std::fill(x, x + n * n, 0.0);
  const int64_t blocks = (n + kTileCols - 1) / kTileCols;
  // Extra columns of the last block would read past the row; pad by working on a copy when n is not a multiple.
  if (n % kTileCols == 0) {
    parallel_for(blocks, [&](int64_t t, int) { lower_inverse_cols(l, x, n, t * kTileCols); });
    return;
  }
  const int64_t np = blocks * kTileCols;
  std::vector<double> lp((size_t)(np * np), 0.0);
  std::vector<double> xp((size_t)(np * np), 0.0);
  for (int64_t i = 0; i < n; ++i) std::copy(l + i * n, l + i * n + n, lp.data() + i * np);
  for (int64_t i = n; i < np; ++i) lp[(size_t)(i * np + i)] = 1.0;
  parallel_for(blocks, [&](int64_t t, int) { lower_inverse_cols(lp.data(), xp.data(), np, t * kTileCols); });
  for (int64_t i = 0; i < n; ++i) std::copy(xp.data() + i * np, xp.data() + i * np + n, x + i * n);
}

void hessian_accumulate(double* h, int64_t n, const float* x, int64_t tokens, const int32_t* rows, int64_t count) {
  constexpr int64_t kChunk = 256;
  const int64_t total = rows ? count : tokens;
  std::vector<double> xd;
  std::vector<double> xt;
  for (int64_t t0 = 0; t0 < total; t0 += kChunk) {
    const int64_t t1 = std::min(total, t0 + kChunk);
    const int64_t m = t1 - t0;
    xd.resize((size_t)(m * n));
    xt.resize((size_t)(n * m));
    for (int64_t t = 0; t < m; ++t) {
      const float* src = x + (int64_t)(rows ? rows[t0 + t] : t0 + t) * n;
      for (int64_t j = 0; j < n; ++j) {
        xd[(size_t)(t * n + j)] = src[j];
        xt[(size_t)(j * m + t)] = -(double)src[j];  // h − (−x_i)·x_j = h + x_i·x_j exactly
      }
    }
    gemm_sub(h, n, xt.data(), m, xd.data(), n, n, n, m, true);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) h[i * n + j] = h[j * n + i];
}

}  // namespace mlxk

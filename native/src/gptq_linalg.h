// The float64 linear algebra of GPTQ and learned rounding: a GEMM-like update, the Cholesky
// factor of H⁻¹ and H = XᵀX accumulation. Every element is computed as the unblocked
// JavaScript reference computes it (lib/quant/gptq.ts, lib/calib/hessian.ts): one running
// value updated term by term in index order, so blocking, threads and SIMD change the speed
// and never a bit of the result (-ffp-contract=off, no reassociation).
#pragma once
#include <cstdint>

namespace mlxk {

/**
 * C[i, j] −= Σ_p A[i, p]·B[p, j] for i < m, j < n, p ascending, each term subtracted from the
 * running C[i, j]. Row-major with leading dimensions; threads split the rows. With `lower`,
 * only the lower triangle j ≤ i is guaranteed (a few entries above it are computed too).
 */
void gemm_sub(double* c, int64_t ldc, const double* a, int64_t lda, const double* b, int64_t ldb, int64_t m, int64_t n,
              int64_t k, bool lower = false);

/** gemm_sub on the calling thread only (inside a pool task). */
void gemm_sub_serial(double* c, int64_t ldc, const double* a, int64_t lda, const double* b, int64_t ldb, int64_t m, int64_t n,
                     int64_t k);

/** In place: the lower Cholesky factor of the n×n matrix a (upper triangle overwritten); false if a pivot is not positive. */
bool cholesky_lower(double* a, int64_t n);

/** x = L⁻¹ for the lower triangular l (n×n, row-major); x's upper triangle is zero. */
void lower_inverse(const double* l, double* x, int64_t n);

/** h (n×n, symmetric) += Σ_t x_tᵀ·x_t over the rows t of x [tokens, n] (or the rows listed in `rows`). */
void hessian_accumulate(double* h, int64_t n, const float* x, int64_t tokens, const int32_t* rows, int64_t count);

}  // namespace mlxk

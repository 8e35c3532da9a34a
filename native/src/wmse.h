// Importance-weighted scale/bias fitting ("wmse"), bit-identical to lib/quant/wmse.ts:
// weighted least squares over mse's candidate grids, assign → refit rounds, and the
// choice among the storage-dtype neighbours of the fit and mse's own result.
#pragma once
#include <cstdint>

#include "quantize.h"

namespace mlxk {

/** Each value's own weight, times the importance when given (lib/quant/wmse.ts WmsePrior). */
enum class Prior { X2, AbsX, Sqrt, Uniform };

/** lib/quant/wmse.ts groupWeights: imp·√(σ² + x²), or the prior when imp is null. */
void group_weights(const float* x, int n, const float* imp, Prior prior, double* out);

/** lib/quant/wmse.ts fitGroupWeighted: the stored (scale, bias) of one group of n values with weights w. */
void wmse_group_fit(const float* x, int n, const double* w, int n_bins, Dtype d, float& scale, float& bias);

}  // namespace mlxk

// Weight quantization into the MLX affine format for `mlxk quantize`: MLX's
// round-to-nearest rule and the per-group MSE search, bit-identical to
// lib/quant/affine.ts (quantizeRtn) and lib/quant/mse.ts (quantizeMse), so a
// conversion gives the same bytes whether it runs here or in JavaScript.
#pragma once
#include <napi.h>

namespace mlxk {

// quantizeAffine(w: Float32Array [rows, cols], rows, cols, bits, groupSize, method: 'rtn' | 'mse',
//                dtype: 'bf16' | 'f16' | 'f32') → {words: Uint32Array, scales, biases: Float32Array, sqErr, sqRef}
Napi::Value QuantizeAffine(const Napi::CallbackInfo& info);

}  // namespace mlxk

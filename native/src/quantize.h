// Weight quantization into the MLX affine format for `mlxk quantize`: MLX's
// round-to-nearest rule and the per-group MSE search, bit-identical to
// lib/quant/affine.ts (quantizeRtn) and lib/quant/mse.ts (quantizeMse), so a
// conversion gives the same bytes whether it runs here or in JavaScript.
#pragma once
#include <napi.h>

#include <cstdint>

namespace mlxk {

/** Storage dtype of scales and biases. */
enum class Dtype { F32, BF16, F16 };

/** x rounded to `d` (round to nearest even), as a float. */
float round_to(float x, Dtype d);

/** `cols` integer levels of `bits` bits into the MLX LSB-first bitstream of one row. */
void pack_row(const uint8_t* q, int64_t cols, int bits, uint32_t* out);

/** lib/quant/mse.ts fitGroup: the best (scale, bias) of 21 candidate grids, bit-identical to the JavaScript. */
void mse_fit(const float* x, int n, int n_bins, double& best_scale, double& best_bias);

/** 'bf16' | 'f16' | 'f32' → Dtype; a TypeError otherwise. */
Dtype dtype_arg(Napi::Env env, Napi::Value v);

// quantizeAffine(w: Float32Array [rows, cols], rows, cols, bits, groupSize, method: 'rtn' | 'mse' | 'wmse',
//                dtype: 'bf16' | 'f16' | 'f32', importance?: Float32Array [cols] | null, prior?: 'x2' | 'absx' | 'uniform')
//   → {words: Uint32Array, scales, biases: Float32Array, sqErr, sqRef}
Napi::Value QuantizeAffine(const Napi::CallbackInfo& info);

}  // namespace mlxk

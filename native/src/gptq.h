// GPTQ, the (scale, bias) refit after rounding and learned rounding by coordinate descent,
// bit-identical to the JavaScript references (lib/quant/gptq.ts, lib/quant/learned.ts) and
// run on the kernels' thread pool (rows are independent given the Hessian). See
// gptq_linalg.h for the float64 algebra underneath.
#pragma once
#include <napi.h>

namespace mlxk {

// hessianAccumulate(h: Float64Array [n, n], n, x: Float32Array [tokens, n], tokens, rows?: Int32Array | null)
//   h += Σ xᵀx over the rows of x (all, or those listed); h stays exactly symmetric.
Napi::Value HessianAccumulate(const Napi::CallbackInfo& info);

// gptqFactor(damped: Float64Array [n, n], n, perm: Int32Array [n]) → Float64Array [n, n] | null
//   the upper Cholesky factor of (damped[perm, perm])⁻¹, or null when it is not positive definite.
Napi::Value GptqFactor(const Napi::CallbackInfo& info);

// gptqQuantize(w: Float32Array [rows, cols], rows, cols, damped: Float64Array, u: Float64Array, perm: Int32Array,
//              bits, groupSize, dtype, refitSweeps, learnedIters)
//   → {codes: Uint8Array, words: Uint32Array, scales: Float32Array, biases: Float32Array}
Napi::Value GptqQuantize(const Napi::CallbackInfo& info);

// refineCodes(w, rows, cols, codes: Uint8Array, scales: Float32Array, biases: Float32Array, h: Float64Array,
//             bits, groupSize, dtype, refitSweeps, learnedIters) → words: Uint32Array
//   refit and learned rounding in place from any starting quantization.
Napi::Value RefineCodes(const Napi::CallbackInfo& info);

// hessianObjective(w, rows, cols, codes: Uint8Array, scales, biases, groupSize, h: Float64Array) → Σ_rows eᵀHe
Napi::Value HessianObjective(const Napi::CallbackInfo& info);

}  // namespace mlxk

// Turning JS arguments into kernel operands, with bounds checks: a byte range is a
// TypedArray/Buffer/DataView/ArrayBuffer or {file: MappedFile, offset} (a tensor used
// in place inside a memory-mapped file). Errors name the argument and what was expected.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "kernels.h"

namespace mlxk {

struct ByteRange {
  const uint8_t* p;
  size_t len;  // bytes available from p
};

/** Per-env state: the MappedFile constructor (to recognise {file} operands), the model ops' Weight and MlaLayer constructors. */
struct AddonData {
  Napi::FunctionReference mapped_file;
  Napi::FunctionReference weight;
  Napi::FunctionReference mla_layer;
};

ByteRange operand_bytes(Napi::Env env, Napi::Value v, const std::string& what);

template <typename T>
T* typed_array(Napi::Env env, Napi::Value v, napi_typedarray_type type, size_t count, const std::string& what);

int64_t integer_arg(Napi::Env env, Napi::Value v, const std::string& what, int64_t min, int64_t max);

/** A quantized weight descriptor {weights, scales, biases, n, k, bits, groupSize, scaleDtype, experts?}. */
QuantMatrix quant_matrix(Napi::Env env, Napi::Value v, const std::string& what, int64_t& experts);

/** A dense weight descriptor {weights, n, k, dtype: 'bf16' | 'f16' | 'f32'}. */
DenseMatrix dense_matrix(Napi::Env env, Napi::Value v, const std::string& what);

}  // namespace mlxk

#include "operands.h"

#include <cmath>

#include "mapped_file.h"

namespace mlxk {

ByteRange operand_bytes(Napi::Env env, Napi::Value v, const std::string& what) {
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    return ByteRange{static_cast<const uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ByteLength()};
  }
  if (v.IsDataView()) {
    Napi::DataView d = v.As<Napi::DataView>();
    return ByteRange{static_cast<const uint8_t*>(d.ArrayBuffer().Data()) + d.ByteOffset(), d.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer a = v.As<Napi::ArrayBuffer>();
    return ByteRange{static_cast<const uint8_t*>(a.Data()), a.ByteLength()};
  }
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    Napi::Value file = o.Get("file");
    AddonData* data = env.GetInstanceData<AddonData>();
    if (file.IsObject() && file.As<Napi::Object>().InstanceOf(data->mapped_file.Value())) {
      MappedFile* mf = MappedFile::Unwrap(file.As<Napi::Object>());
      if (mf->closed()) throw Napi::Error::New(env, what + ": " + mf->path() + " is closed");
      const int64_t offset = integer_arg(env, o.Get("offset"), what + ".offset", 0, (int64_t)mf->size());
      return ByteRange{mf->data() + offset, mf->size() - (size_t)offset};
    }
  }
  throw Napi::TypeError::New(env, what + ": expected a TypedArray, Buffer, ArrayBuffer or {file: MappedFile, offset}");
}

template <typename T>
T* typed_array(Napi::Env env, Napi::Value v, napi_typedarray_type type, size_t count, const std::string& what) {
  const char* name = type == napi_float32_array ? "Float32Array" : type == napi_int32_array ? "Int32Array" : "TypedArray";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, what + ": expected a " + name);
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  if (t.ElementLength() < count)
    throw Napi::RangeError::New(env, what + ": " + name + " of length " + std::to_string(t.ElementLength()) +
                                         " is too short; " + std::to_string(count) + " elements are needed");
  return reinterpret_cast<T*>(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
}

template float* typed_array<float>(Napi::Env, Napi::Value, napi_typedarray_type, size_t, const std::string&);
template int32_t* typed_array<int32_t>(Napi::Env, Napi::Value, napi_typedarray_type, size_t, const std::string&);
template double* typed_array<double>(Napi::Env, Napi::Value, napi_typedarray_type, size_t, const std::string&);

int64_t integer_arg(Napi::Env env, Napi::Value v, const std::string& what, int64_t min, int64_t max) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, what + ": expected an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= (double)min && d <= (double)max) || std::floor(d) != d)
    throw Napi::RangeError::New(env, what + ": " + std::to_string(d) + " is not an integer in [" + std::to_string(min) +
                                         ", " + std::to_string(max) + "]");
  return (int64_t)d;
}

static int dtype_code(Napi::Env env, Napi::Value v, const std::string& what) {
  const std::string dtype = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (dtype == "bf16") return MLXK_SCALE_BF16;
  if (dtype == "f16") return MLXK_SCALE_F16;
  if (dtype == "f32") return MLXK_SCALE_F32;
  throw Napi::TypeError::New(env, what + ": expected 'bf16', 'f16' or 'f32'");
}

DenseMatrix dense_matrix(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, what + ": expected a dense weight descriptor object");
  Napi::Object o = v.As<Napi::Object>();
  DenseMatrix w{};
  w.n = integer_arg(env, o.Get("n"), what + ".n", 1, (int64_t)1 << 40);
  w.k = integer_arg(env, o.Get("k"), what + ".k", 1, (int64_t)1 << 40);
  w.dtype = dtype_code(env, o.Get("dtype"), what + ".dtype");
  const ByteRange b = operand_bytes(env, o.Get("weights"), what + ".weights");
  const double need = (double)w.n * (double)w.k * mlxk_scale_bytes(w.dtype);
  if ((double)b.len < need)
    throw Napi::RangeError::New(env, what + ".weights: " + std::to_string(b.len) + " bytes available but " +
                                         std::to_string((uint64_t)need) + " are needed for " + std::to_string(w.n) +
                                         " × " + std::to_string(w.k));
  w.w = b.p;
  return w;
}

QuantMatrix quant_matrix(Napi::Env env, Napi::Value v, const std::string& what, int64_t& experts) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, what + ": expected a quantized weight descriptor object");
  Napi::Object o = v.As<Napi::Object>();
  QuantMatrix w{};
  w.n = integer_arg(env, o.Get("n"), what + ".n", 1, (int64_t)1 << 40);
  w.k = integer_arg(env, o.Get("k"), what + ".k", 1, (int64_t)1 << 40);
  w.bits = (int)integer_arg(env, o.Get("bits"), what + ".bits", 2, 8);
  if (w.bits == 7) throw Napi::RangeError::New(env, what + ".bits: 7 is not an MLX affine width (2, 3, 4, 5, 6, 8)");
  w.group_size = (int)integer_arg(env, o.Get("groupSize"), what + ".groupSize", 32, 128);
  if (w.group_size != 32 && w.group_size != 64 && w.group_size != 128)
    throw Napi::RangeError::New(env, what + ".groupSize: " + std::to_string(w.group_size) + " is not 32, 64 or 128");
  if (w.k % w.group_size != 0)
    throw Napi::RangeError::New(env, what + ".k: " + std::to_string(w.k) + " is not a multiple of groupSize " +
                                         std::to_string(w.group_size));
  w.scale_type = dtype_code(env, o.Get("scaleDtype"), what + ".scaleDtype");
  Napi::Value e = o.Get("experts");
  experts = e.IsUndefined() ? 1 : integer_arg(env, e, what + ".experts", 1, (int64_t)1 << 24);

  const ByteRange wb = operand_bytes(env, o.Get("weights"), what + ".weights");
  const ByteRange sb = operand_bytes(env, o.Get("scales"), what + ".scales");
  const ByteRange bb = operand_bytes(env, o.Get("biases"), what + ".biases");
  const double rows = (double)experts * (double)w.n;
  const double need_w = rows * (double)row_bytes(w), need_s = rows * (double)scale_row_bytes(w);
  auto check = [&](const ByteRange& r, double need, const char* field) {
    if ((double)r.len < need)
      throw Napi::RangeError::New(env, what + "." + field + ": " + std::to_string(r.len) + " bytes available but " +
                                           std::to_string((uint64_t)need) + " are needed for " + std::to_string(experts) +
                                           " × " + std::to_string(w.n) + " × " + std::to_string(w.k) + " at " +
                                           std::to_string(w.bits) + " bits, group size " + std::to_string(w.group_size));
  };
  check(wb, need_w, "weights");
  check(sb, need_s, "scales");
  check(bb, need_s, "biases");
  w.w = wb.p;
  w.scales = sb.p;
  w.biases = bb.p;
  return w;
}

}  // namespace mlxk

// N-API surface of the kernels; lib/backend/native/addon.ts is its typed wrapper.
#include <napi.h>

#include <cstring>
#include <vector>

#include "addon_ops.h"
#include "anon_map.h"
#include "cpu.h"
#include "dispatch.h"
#include "gptq.h"
#include "mapped_file.h"
#include "operands.h"
#include "quantize.h"

namespace mlxk {
namespace {

int planes_arg(Napi::Env env, const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || info[i].IsUndefined()) return 1;
  const int64_t bits = integer_arg(env, info[i], std::string(fn) + ": activationBits", 8, 16);
  if (bits != 8 && bits != 16) throw Napi::RangeError::New(env, std::string(fn) + ": activationBits must be 8 or 16");
  return bits == 8 ? 1 : 2;
}

// qmatmul(x: Float32Array [m, k], m, w: QuantDesc, out: Float32Array [m, n], activationBits?: 8 | 16)
Napi::Value Qmatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t m = integer_arg(env, info[1], "qmatmul: m", 1, (int64_t)1 << 31);
  int64_t experts = 1;
  const QuantMatrix w = quant_matrix(env, info[2], "qmatmul: w", experts);
  if (experts != 1) throw Napi::RangeError::New(env, "qmatmul: w.experts must be 1 (use moeQmatmul for stacked experts)");
  const float* x = typed_array<float>(env, info[0], napi_float32_array, (size_t)(m * w.k), "qmatmul: x");
  float* out = typed_array<float>(env, info[3], napi_float32_array, (size_t)(m * w.n), "qmatmul: out");
  qmatmul(x, m, w, out, planes_arg(env, info, 4, "qmatmul"));
  return env.Undefined();
}

// moeQmatmul(x: Float32Array [rows, k], rows, rowIndex: Int32Array [p], expertIndex: Int32Array [p],
//            w: QuantDesc with experts, out: Float32Array [p, n], activationBits?: 8 | 16)
Napi::Value MoeQmatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = integer_arg(env, info[1], "moeQmatmul: rows", 1, (int64_t)1 << 31);
  int64_t experts = 1;
  const QuantMatrix w = quant_matrix(env, info[4], "moeQmatmul: w", experts);
  const float* x = typed_array<float>(env, info[0], napi_float32_array, (size_t)(rows * w.k), "moeQmatmul: x");
  if (!info[2].IsTypedArray()) throw Napi::TypeError::New(env, "moeQmatmul: rowIndex: expected an Int32Array");
  const size_t pairs = info[2].As<Napi::TypedArray>().ElementLength();
  const int32_t* ri = typed_array<int32_t>(env, info[2], napi_int32_array, pairs, "moeQmatmul: rowIndex");
  const int32_t* ei = typed_array<int32_t>(env, info[3], napi_int32_array, pairs, "moeQmatmul: expertIndex");
  float* out = typed_array<float>(env, info[5], napi_float32_array, pairs * (size_t)w.n, "moeQmatmul: out");
  for (size_t p = 0; p < pairs; ++p) {
    if (ri[p] < 0 || ri[p] >= rows)
      throw Napi::RangeError::New(env, "moeQmatmul: rowIndex[" + std::to_string(p) + "] = " + std::to_string(ri[p]) +
                                           " is outside [0, " + std::to_string(rows) + ")");
    if (ei[p] < 0 || ei[p] >= experts)
      throw Napi::RangeError::New(env, "moeQmatmul: expertIndex[" + std::to_string(p) + "] = " + std::to_string(ei[p]) +
                                           " is outside [0, " + std::to_string(experts) + ")");
  }
  moe_qmatmul(x, rows, ri, ei, (int64_t)pairs, w, experts, out, planes_arg(env, info, 6, "moeQmatmul"));
  return env.Undefined();
}

// denseMatmul(x: Float32Array [m, k], m, w: {weights, n, k, dtype}, out: Float32Array [m, n])
Napi::Value DenseMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t m = integer_arg(env, info[1], "denseMatmul: m", 1, (int64_t)1 << 31);
  const DenseMatrix w = dense_matrix(env, info[2], "denseMatmul: w");
  const float* x = typed_array<float>(env, info[0], napi_float32_array, (size_t)(m * w.k), "denseMatmul: x");
  float* out = typed_array<float>(env, info[3], napi_float32_array, (size_t)(m * w.n), "denseMatmul: out");
  dense_matmul(x, m, w, out);
  return env.Undefined();
}

// quantizeActivations(x, m, k, groupSize, activationBits?) → {q, q2 (16-bit only), d, sx, kpad}
Napi::Value QuantizeActivations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t m = integer_arg(env, info[1], "quantizeActivations: m", 1, (int64_t)1 << 31);
  const int64_t k = integer_arg(env, info[2], "quantizeActivations: k", 1, (int64_t)1 << 40);
  const int gs = (int)integer_arg(env, info[3], "quantizeActivations: groupSize", 32, 128);
  if ((gs != 32 && gs != 64 && gs != 128) || k % gs != 0)
    throw Napi::RangeError::New(env, "quantizeActivations: groupSize must be 32, 64 or 128 and divide k");
  const float* x = typed_array<float>(env, info[0], napi_float32_array, (size_t)(m * k), "quantizeActivations: x");
  const int64_t kpad = pad64(k);
  const int planes = planes_arg(env, info, 4, "quantizeActivations");
  Napi::Int8Array q = Napi::Int8Array::New(env, (size_t)(m * kpad));
  Napi::Int8Array q2 = Napi::Int8Array::New(env, planes == 2 ? (size_t)(m * kpad) : 0);
  Napi::Float32Array d = Napi::Float32Array::New(env, (size_t)(m * kpad / kActBlock));
  Napi::Float32Array sx = Napi::Float32Array::New(env, (size_t)(m * (k / gs)));
  quantize_activations(x, m, k, gs, q.Data(), planes == 2 ? q2.Data() : nullptr, d.Data(), sx.Data());
  Napi::Object r = Napi::Object::New(env);
  r.Set("q", q);
  if (planes == 2) r.Set("q2", q2);
  r.Set("d", d);
  r.Set("sx", sx);
  r.Set("kpad", Napi::Number::New(env, (double)kpad));
  return r;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  set_threads((int)integer_arg(info.Env(), info[0], "setThreads: n", 1, 1024));
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), thread_count()); }
Napi::Value PhysicalCores(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), physical_cores()); }

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "setIsa: name must be a string");
  return Napi::Boolean::New(info.Env(), set_isa(info[0].As<Napi::String>().Utf8Value()));
}

Napi::Value Isa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), active_kernels().name); }

Napi::Value Isas(const Napi::CallbackInfo& info) {
  const auto all = supported_kernels();
  Napi::Array a = Napi::Array::New(info.Env(), all.size());
  for (size_t i = 0; i < all.size(); ++i) a.Set((uint32_t)i, Napi::String::New(info.Env(), all[i]->name));
  return a;
}

// poolStats(reset) → the thread pool's counters since the last reset (profiling).
Napi::Value PoolStatsFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PoolStats s = pool_stats(info[0].ToBoolean().Value());
  Napi::Object o = Napi::Object::New(env);
  o.Set("jobs", Napi::Number::New(env, (double)s.jobs));
  o.Set("inlineJobs", Napi::Number::New(env, (double)s.inline_jobs));
  o.Set("jobNs", Napi::Number::New(env, (double)s.job_ns));
  o.Set("waitNs", Napi::Number::New(env, (double)s.wait_ns));
  o.Set("wakeups", Napi::Number::New(env, (double)s.wakeups));
  o.Set("blockedWaits", Napi::Number::New(env, (double)s.blocked_waits));
  return o;
}

// readBandwidth(bytes, threads, reps) → GB/s reading a private buffer (touched first, so
// page faults are not timed) with the active kernel set's widest loads.
Napi::Value ReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t bytes = integer_arg(env, info[0], "readBandwidth: bytes", 1 << 20, (int64_t)1 << 36);
  const int threads = (int)integer_arg(env, info[1], "readBandwidth: threads", 1, 1024);
  const int reps = (int)integer_arg(env, info[2], "readBandwidth: reps", 1, 1000);
  std::vector<uint64_t> buf((size_t)bytes / 8);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i * 0x9e3779b97f4a7c15ull;
  return Napi::Number::New(env, read_bandwidth_gbs(reinterpret_cast<const uint8_t*>(buf.data()), buf.size() * 8, threads, reps));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  Napi::Function mf = MappedFile::Define(env);
  data->mapped_file = Napi::Persistent(mf);
  env.SetInstanceData<AddonData>(data);
  exports.Set("MappedFile", mf);
  export_functions(env, exports, {
      {"qmatmul", Qmatmul},
      {"moeQmatmul", MoeQmatmul},
      {"denseMatmul", DenseMatmul},
      {"quantizeActivations", QuantizeActivations},
      {"setThreads", SetThreads},
      {"poolStats", PoolStatsFn},
      {"threads", Threads},
      {"physicalCores", PhysicalCores},
      {"setIsa", SetIsa},
      {"isa", Isa},
      {"isas", Isas},
      {"readBandwidth", ReadBandwidth},
      // Weight quantization for `mlxk quantize` (quantize.cc).
      {"quantizeAffine", QuantizeAffine},
      // GPTQ and learned rounding (gptq.cc).
      {"hessianAccumulate", HessianAccumulate},
      {"gptqFactor", GptqFactor},
      {"gptqQuantize", GptqQuantize},
      {"refineCodes", RefineCodes},
      {"hessianObjective", HessianObjective},
      // Memory the prompt cache maps itself (anon_map.cc).
      {"mapAnonymous", MapAnonymous},
      {"unmapAnonymous", UnmapAnonymous},
      {"anonymousMapped", AnonymousMapped},
  });

  // The model ops of the native backend (addon_ops.cc).
  register_model_ops(env, exports, data);
  register_mla_ops(env, exports, data);
  return exports;
}

}  // namespace mlxk

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return mlxk::Init(env, exports); }

NODE_API_MODULE(mlxk_native, InitModule)

// N-API surface of the model ops (model_ops.h) for lib/backend/native/ops.ts.
// Weights are parsed once into a Weight object (a prepared descriptor that keeps its
// buffers or memory-mapped files alive), so a call per layer costs a few argument checks.
#include "addon_ops.h"

#include <string>
#include <vector>

#include "mapped_file.h"
#include "model_ops.h"
#include "operands.h"

namespace mlxk {
namespace {

class Weight : public Napi::ObjectWrap<Weight> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Weight", {InstanceAccessor<&Weight::Experts>("experts"), InstanceAccessor<&Weight::N>("n"),
                                       InstanceAccessor<&Weight::K>("k"), InstanceAccessor<&Weight::Quantized>("quantized"),
                                       InstanceMethod<&Weight::Release>("release")});
  }

  // new Weight({kind: 'quant', weights, scales, biases, n, k, bits, groupSize, scaleDtype, experts?})
  // new Weight({kind: 'dense', weights, n, k, dtype, experts?})
  explicit Weight(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Weight>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Weight: expected a weight descriptor object");
    Napi::Object o = info[0].As<Napi::Object>();
    const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
    if (kind == "quant") {
      w_.quantized = true;
      w_.q = quant_matrix(env, o, "Weight", w_.experts);
      for (const char* f : {"weights", "scales", "biases"}) keep(env, o.Get(f));
    } else if (kind == "dense") {
      w_.quantized = false;
      Napi::Value e = o.Get("experts");
      w_.experts = e.IsUndefined() ? 1 : integer_arg(env, e, "Weight.experts", 1, (int64_t)1 << 24);
      // dense_matrix checks the byte range of one [n, k] matrix; check the whole stack.
      Napi::Object whole = Napi::Object::New(env);
      whole.Set("weights", o.Get("weights"));
      whole.Set("n", Napi::Number::New(env, integer_arg(env, o.Get("n"), "Weight.n", 1, (int64_t)1 << 40) * (double)w_.experts));
      whole.Set("k", o.Get("k"));
      whole.Set("dtype", o.Get("dtype"));
      w_.d = dense_matrix(env, whole, "Weight");
      w_.d.n /= w_.experts;
      keep(env, o.Get("weights"));
    } else {
      throw Napi::TypeError::New(env, "Weight.kind: expected 'quant' or 'dense'");
    }
  }

  /** The prepared weight, after checking it was not released and its mapped files are still open. */
  const ModelWeight& get(Napi::Env env, const std::string& what) const {
    if (released_) throw Napi::Error::New(env, what + ": the weight was released");
    for (const MappedFile* f : files_)
      if (f->closed()) throw Napi::Error::New(env, what + ": " + f->path() + " is closed");
    return w_;
  }

  /** get's checks without building a message: null when get would throw. */
  const ModelWeight* usable() const {
    if (released_) return nullptr;
    for (const MappedFile* f : files_)
      if (f->closed()) return nullptr;
    return &w_;
  }

 private:
  void keep(Napi::Env env, Napi::Value v) {
    Napi::Value owner = v;
    if (v.IsObject() && !v.IsTypedArray() && !v.IsArrayBuffer() && !v.IsDataView()) {
      owner = v.As<Napi::Object>().Get("file");
      files_.push_back(MappedFile::Unwrap(owner.As<Napi::Object>()));
    }
    refs_.push_back(Napi::Persistent(owner.As<Napi::Object>()));
  }

  // Lets go of the buffers at once: a streamed pass frees a finished layer's host copies
  // without waiting for the collector to reach this wrapper (its finalizer may run only
  // once the event loop turns, which a synchronous forward pass never lets it do).
  Napi::Value Release(const Napi::CallbackInfo& info) {
    released_ = true;
    refs_.clear();
    files_.clear();
    return info.Env().Undefined();
  }

  Napi::Value Experts(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)w_.experts); }
  Napi::Value N(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)w_.n()); }
  Napi::Value K(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)w_.k()); }
  Napi::Value Quantized(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), w_.quantized); }

  ModelWeight w_;
  std::vector<Napi::ObjectReference> refs_;
  std::vector<const MappedFile*> files_;
  bool released_ = false;
};

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what, int64_t min = 0, int64_t max = (int64_t)1 << 40) {
  return integer_arg(info.Env(), info[i], what, min, max);
}

float* floats(const Napi::CallbackInfo& info, size_t i, int64_t count, const std::string& what) {
  return typed_array<float>(info.Env(), info[i], napi_float32_array, (size_t)count, what);
}

int32_t* ints(const Napi::CallbackInfo& info, size_t i, int64_t count, const std::string& what) {
  return typed_array<int32_t>(info.Env(), info[i], napi_int32_array, (size_t)count, what);
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), what + ": expected a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

void check_indices(Napi::Env env, const int32_t* v, int64_t count, int64_t limit, const std::string& what) {
  for (int64_t i = 0; i < count; ++i)
    if (v[i] < 0 || v[i] >= limit)
      throw Napi::RangeError::New(env, what + "[" + std::to_string(i) + "] = " + std::to_string(v[i]) + " is outside [0, " +
                                           std::to_string(limit) + ")");
}

// opLinear(x, m, w, out, bias | null, activationBits)
Napi::Value OpLinear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t m = int_arg(info, 1, "linear: m", 1);
  const ModelWeight& w = weight_arg(env, info[2], "linear: w");
  if (w.experts != 1) throw Napi::RangeError::New(env, "linear: w holds " + std::to_string(w.experts) + " matrices; expected one");
  const float* x = floats(info, 0, m * w.k(), "linear: x");
  float* out = floats(info, 3, m * w.n(), "linear: out");
  const float* bias = info[4].IsNull() || info[4].IsUndefined() ? nullptr : floats(info, 4, w.n(), "linear: bias");
  model_linear(x, m, w, bias, out, planes_of(info, 5, "linear"));
  return env.Undefined();
}

// opGathered(x, rows, rowIndex, expertIndex, w, out, activationBits)
Napi::Value OpGathered(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = int_arg(info, 1, "gathered: rows", 1);
  const ModelWeight& w = weight_arg(env, info[4], "gathered: w");
  const float* x = floats(info, 0, rows * w.k(), "gathered: x");
  if (!info[2].IsTypedArray()) throw Napi::TypeError::New(env, "gathered: rowIndex: expected an Int32Array");
  const int64_t pairs = (int64_t)info[2].As<Napi::TypedArray>().ElementLength();
  const int32_t* ri = ints(info, 2, pairs, "gathered: rowIndex");
  const int32_t* ei = ints(info, 3, pairs, "gathered: expertIndex");
  check_indices(env, ri, pairs, rows, "gathered: rowIndex");
  check_indices(env, ei, pairs, w.experts, "gathered: expertIndex");
  float* out = floats(info, 5, pairs * w.n(), "gathered: out");
  model_gathered(x, rows, ri, ei, pairs, w, out, planes_of(info, 6, "gathered"));
  return env.Undefined();
}

// opMatmulUntransposed(x, tokens, xHeads, w, out)
Napi::Value OpMatmulUntransposed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t tokens = int_arg(info, 1, "matmulUntransposed: tokens", 1);
  const ModelWeight& w = weight_arg(env, info[3], "matmulUntransposed: w");
  const int64_t xh = int_arg(info, 2, "matmulUntransposed: xHeads", 1);
  if (xh != 1 && xh != w.experts)
    throw Napi::RangeError::New(env, "matmulUntransposed: x has " + std::to_string(xh) + " heads; expected 1 or " + std::to_string(w.experts));
  const float* x = floats(info, 0, tokens * xh * w.n(), "matmulUntransposed: x");
  float* out = floats(info, 4, tokens * w.experts * w.k(), "matmulUntransposed: out");
  model_matmul_untransposed(x, tokens, xh, w, out);
  return env.Undefined();
}

// opEmbedding(w, ids, out)
Napi::Value OpEmbedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelWeight& w = weight_arg(env, info[0], "embedding: table");
  if (w.experts != 1) throw Napi::RangeError::New(env, "embedding: the table must be one [rows, dim] matrix");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "embedding: ids: expected an Int32Array");
  const int64_t count = (int64_t)info[1].As<Napi::TypedArray>().ElementLength();
  const int32_t* ids = ints(info, 1, count, "embedding: ids");
  check_indices(env, ids, count, w.n(), "embedding: ids");
  model_embedding(w, ids, count, floats(info, 2, count * w.k(), "embedding: out"));
  return env.Undefined();
}

// opRmsNorm(x, rows, dim, weight, eps, out)
Napi::Value OpRmsNorm(const Napi::CallbackInfo& info) {
  const int64_t rows = int_arg(info, 1, "rmsNorm: rows"), dim = int_arg(info, 2, "rmsNorm: dim", 1);
  model_rms_norm(floats(info, 0, rows * dim, "rmsNorm: x"), rows, dim, floats(info, 3, dim, "rmsNorm: weight"),
                 (float)number_arg(info, 4, "rmsNorm: eps"), floats(info, 5, rows * dim, "rmsNorm: out"));
  return info.Env().Undefined();
}

// opRope(x, tokens, heads, dims, positions, invFreq, scale, interleaved, out)
Napi::Value OpRope(const Napi::CallbackInfo& info) {
  const int64_t t = int_arg(info, 1, "rope: tokens"), h = int_arg(info, 2, "rope: heads"), d = int_arg(info, 3, "rope: dims", 2);
  if (d % 2) throw Napi::RangeError::New(info.Env(), "rope: dims must be even");
  const int64_t n = t * h * d;
  const int32_t* positions = ints(info, 4, t, "rope: positions");
  check_indices(info.Env(), positions, t, (int64_t)1 << 30, "rope: positions");
  model_rope(floats(info, 0, n, "rope: x"), t, h, d, positions, floats(info, 5, d / 2, "rope: invFreq"),
             (float)number_arg(info, 6, "rope: scale"), info[7].ToBoolean().Value(), floats(info, 8, n, "rope: out"));
  return info.Env().Undefined();
}

/** Segment s's keys or values: arrays[s] with geometry [offset, strideS, strideH] at geom[3s…]. */
StridedRows strided(Napi::Env env, Napi::Array arrays, const double* geom, uint32_t s, int64_t rows, int64_t heads, int64_t dims,
                    const std::string& what) {
  const int64_t offset = (int64_t)geom[3 * s], ss = (int64_t)geom[3 * s + 1], sh = (int64_t)geom[3 * s + 2];
  if (offset < 0 || ss < 0 || sh < 0) throw Napi::RangeError::New(env, what + ": negative offset or stride");
  const float* p = typed_array<float>(env, arrays.Get(s), napi_float32_array, (size_t)(offset + (rows - 1) * ss + (heads - 1) * sh + dims), what);
  return StridedRows{p + offset, ss, sh};
}

// opAttention(q, hq, d, tokens Int32Array[B], keys Int32Array[B], k Float32Array[], kGeom Float64Array[3B],
//             v Float32Array[], vGeom Float64Array[3B], hkv, dv, scale, out): B sequences, one pool job
Napi::Value OpAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t hq = int_arg(info, 1, "attention: hq", 1), d = int_arg(info, 2, "attention: d", 1);
  const int64_t hkv = int_arg(info, 9, "attention: hkv", 1), dv = int_arg(info, 10, "attention: dv", 1);
  if (hq % hkv) throw Napi::RangeError::New(env, "attention: " + std::to_string(hq) + " query heads are not a multiple of " + std::to_string(hkv) + " key heads");
  if (!info[3].IsTypedArray() || !info[5].IsArray() || !info[7].IsArray()) throw Napi::TypeError::New(env, "attention: expected segment arrays");
  const int64_t count = (int64_t)info[3].As<Napi::TypedArray>().ElementLength();
  if (count < 1) throw Napi::RangeError::New(env, "attention: no segments");
  const int32_t* tokens = ints(info, 3, count, "attention: tokens");
  const int32_t* keys = ints(info, 4, count, "attention: keys");
  const double* kg = typed_array<double>(env, info[6], napi_float64_array, (size_t)(3 * count), "attention: kGeom");
  const double* vg = typed_array<double>(env, info[8], napi_float64_array, (size_t)(3 * count), "attention: vGeom");
  Napi::Array ka = info[5].As<Napi::Array>(), va = info[7].As<Napi::Array>();
  if ((int64_t)ka.Length() != count || (int64_t)va.Length() != count) throw Napi::RangeError::New(env, "attention: one keys and one values array per segment");
  std::vector<AttentionSegment> segs((size_t)count);
  int64_t rows = 0;
  for (uint32_t s = 0; s < (uint32_t)count; ++s) {
    if (tokens[s] < 1 || keys[s] < tokens[s])
      throw Napi::RangeError::New(env, "attention: segment " + std::to_string(s) + ": " + std::to_string(keys[s]) + " keys cannot cover " + std::to_string(tokens[s]) + " queries");
    segs[s] = AttentionSegment{strided(env, ka, kg, s, keys[s], hkv, d, "attention: k"), strided(env, va, vg, s, keys[s], hkv, dv, "attention: v"), tokens[s], keys[s]};
    rows += tokens[s];
  }
  model_attention(floats(info, 0, rows * hq * d, "attention: q"), hq, d, segs.data(), count, hkv, dv, (float)number_arg(info, 11, "attention: scale"),
                  floats(info, 12, rows * hq * dv, "attention: out"));
  return env.Undefined();
}

// opSwiglu(gate, up, out) / opAdd(a, b, out): same-length Float32Arrays
Napi::Value OpSwiglu(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "swiglu: gate: expected a Float32Array");
  const int64_t n = (int64_t)info[0].As<Napi::TypedArray>().ElementLength();
  model_swiglu(floats(info, 0, n, "swiglu: gate"), floats(info, 1, n, "swiglu: up"), n, floats(info, 2, n, "swiglu: out"));
  return info.Env().Undefined();
}

Napi::Value OpAdd(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "add: a: expected a Float32Array");
  const int64_t n = (int64_t)info[0].As<Napi::TypedArray>().ElementLength();
  model_add(floats(info, 0, n, "add: a"), floats(info, 1, n, "add: b"), n, floats(info, 2, n, "add: out"));
  return info.Env().Undefined();
}

// opRouteNoAuxTc(logits, tokens, experts, bias, topK, nGroup, topkGroup, normTopkProb, routedScalingFactor, indices, weights)
Napi::Value OpRouteNoAuxTc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t t = int_arg(info, 1, "routeNoAuxTc: tokens"), e = int_arg(info, 2, "routeNoAuxTc: experts", 1);
  NoAuxOptions o{};
  o.top_k = int_arg(info, 4, "routeNoAuxTc: topK", 1, e);
  o.n_group = int_arg(info, 5, "routeNoAuxTc: nGroup", 1, e);
  o.topk_group = int_arg(info, 6, "routeNoAuxTc: topkGroup", 1, o.n_group);
  o.norm_topk_prob = info[7].ToBoolean().Value();
  o.routed_scaling_factor = number_arg(info, 8, "routeNoAuxTc: routedScalingFactor");
  if (e % o.n_group) throw Napi::RangeError::New(env, "routeNoAuxTc: " + std::to_string(e) + " experts do not split into " + std::to_string(o.n_group) + " groups");
  model_route_noaux_tc(floats(info, 0, t * e, "routeNoAuxTc: logits"), t, e, floats(info, 3, e, "routeNoAuxTc: bias"), o,
                       ints(info, 9, t * o.top_k, "routeNoAuxTc: indices"), floats(info, 10, t * o.top_k, "routeNoAuxTc: weights"));
  return env.Undefined();
}

// opRouteSoftmaxTopK(logits, tokens, experts, topK, norm, indices, weights)
Napi::Value OpRouteSoftmaxTopK(const Napi::CallbackInfo& info) {
  const int64_t t = int_arg(info, 1, "routeSoftmaxTopK: tokens"), e = int_arg(info, 2, "routeSoftmaxTopK: experts", 1);
  const int64_t k = int_arg(info, 3, "routeSoftmaxTopK: topK", 1, e);
  model_route_softmax_topk(floats(info, 0, t * e, "routeSoftmaxTopK: logits"), t, e, k, info[4].ToBoolean().Value(),
                           ints(info, 5, t * k, "routeSoftmaxTopK: indices"), floats(info, 6, t * k, "routeSoftmaxTopK: weights"));
  return info.Env().Undefined();
}

// opMoe(x, tokens, indices, weights, k, gate, up, down, out, activationBits)
Napi::Value OpMoe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t t = int_arg(info, 1, "moe: tokens", 1), k = int_arg(info, 4, "moe: k", 1);
  const ModelWeight& gate = weight_arg(env, info[5], "moe: gate");
  const ModelWeight& up = weight_arg(env, info[6], "moe: up");
  const ModelWeight& down = weight_arg(env, info[7], "moe: down");
  const int64_t hidden = gate.k(), inter = gate.n();
  if (up.n() != inter || up.k() != hidden || down.n() != hidden || down.k() != inter || up.experts != gate.experts || down.experts != gate.experts)
    throw Napi::RangeError::New(env, "moe: expected gate and up [E, inter, hidden] and down [E, hidden, inter] of one E");
  const int32_t* idx = ints(info, 2, t * k, "moe: indices");
  check_indices(env, idx, t * k, gate.experts, "moe: indices");
  const MlpWeights routed{&gate, &up, &down};
  model_moe(floats(info, 0, t * hidden, "moe: x"), t, idx, floats(info, 3, t * k, "moe: weights"), k, &routed, nullptr,
            floats(info, 8, t * hidden, "moe: out"), planes_of(info, 9, "moe"));
  return env.Undefined();
}

}  // namespace

const ModelWeight& weight_arg(Napi::Env env, Napi::Value v, const std::string& what) {
  return static_cast<const Weight*>(weight_handle(env, v, what))->get(env, what);
}

const void* weight_handle(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(env.GetInstanceData<AddonData>()->weight.Value()))
    throw Napi::TypeError::New(env, what + ": expected a Weight");
  return Weight::Unwrap(v.As<Napi::Object>());
}

const ModelWeight& resolve_weight(Napi::Env env, const void* handle, const char* what) {
  const Weight* w = static_cast<const Weight*>(handle);
  const ModelWeight* m = w->usable();
  return m ? *m : w->get(env, what);
}

int planes_of(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  const int64_t bits = integer_arg(info.Env(), info[i], what + ": activationBits", 8, 16);
  if (bits != 8 && bits != 16) throw Napi::RangeError::New(info.Env(), what + ": activationBits must be 8 or 16");
  return bits == 8 ? 1 : 2;
}

void export_functions(Napi::Env env, Napi::Object exports, std::initializer_list<ExportedFunction> fns) {
  for (const ExportedFunction& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

void register_model_ops(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function weight = Weight::Define(env);
  data->weight = Napi::Persistent(weight);
  exports.Set("Weight", weight);
  export_functions(env, exports, {
      {"opLinear", OpLinear},
      {"opGathered", OpGathered},
      {"opMatmulUntransposed", OpMatmulUntransposed},
      {"opEmbedding", OpEmbedding},
      {"opRmsNorm", OpRmsNorm},
      {"opRope", OpRope},
      {"opAttention", OpAttention},
      {"opSwiglu", OpSwiglu},
      {"opAdd", OpAdd},
      {"opRouteNoAuxTc", OpRouteNoAuxTc},
      {"opRouteSoftmaxTopK", OpRouteSoftmaxTopK},
      {"opMoe", OpMoe},
  });
}

}  // namespace mlxk

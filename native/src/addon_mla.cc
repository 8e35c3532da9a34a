// N-API surface of the fused decoder layers (mla_layers.h) for lib/backend/native/mlaLayers.ts:
// an MlaLayer is prepared once per layer (its weights' and vectors' references, its shapes checked
// against each other), then opMlaLayers runs any number of them over a batch of sequences in one call.
#include <string>
#include <vector>

#include "addon_ops.h"
#include "mla_layers.h"

namespace mlxk {
namespace {

/** A held Weight (and its wrapper). */
struct Held {
  Napi::ObjectReference ref;
  const void* weight = nullptr;  // weight_handle of a Weight
  bool present() const { return !ref.IsEmpty(); }
};

class MlaLayer : public Napi::ObjectWrap<MlaLayer> {
 public:
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "MlaLayer", {}); }

  // new MlaLayer({hidden, heads, nope, rope, rank, vDim, eps, mlaEps, scale, invFreq, ropeScale, interleaved,
  //               inputNorm, qANorm?, kvANorm, postNorm, q? | (qA, qB), kvA, embedQ, unembedOut, oProj,
  //               mlp?: {gate, up, down}, moe?: {router, bias, gate, up, down, topK, nGroup, topkGroup, normTopkProb, routedScalingFactor}})
  explicit MlaLayer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MlaLayer>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "MlaLayer: expected a layer descriptor object");
    Napi::Object o = info[0].As<Napi::Object>();
    auto dim = [&](const char* f, int64_t min = 1) { return integer_arg(env, o.Get(f), std::string("MlaLayer.") + f, min, (int64_t)1 << 24); };
    auto num = [&](const char* f) {
      if (!o.Get(f).IsNumber()) throw Napi::TypeError::New(env, std::string("MlaLayer.") + f + ": expected a number");
      return (float)o.Get(f).As<Napi::Number>().DoubleValue();
    };
    s_.hidden = dim("hidden");
    s_.heads = dim("heads");
    s_.nope = dim("nope");
    s_.rope = dim("rope", 2);
    s_.rank = dim("rank");
    s_.v_dim = dim("vDim");
    if (s_.rope % 2) throw Napi::RangeError::New(env, "MlaLayer.rope: must be even");
    s_.eps = num("eps");
    s_.mla_eps = num("mlaEps");
    s_.scale = num("scale");
    s_.rope_scale = num("ropeScale");
    s_.interleaved = o.Get("interleaved").ToBoolean().Value();
    const int64_t H = s_.heads, D = s_.hidden;
    vector(env, o, "invFreq", s_.rope / 2, inv_freq_, s_.inv_freq);
    vector(env, o, "inputNorm", D, input_norm_, s_.input_norm);
    vector(env, o, "kvANorm", s_.rank, kv_a_norm_, s_.kv_a_norm);
    vector(env, o, "postNorm", D, post_norm_, s_.post_norm);
    if (o.Has("q") && !o.Get("q").IsUndefined()) {
      matrix(env, o, "q", 1, H * (s_.nope + s_.rope), D, q_);
    } else {
      matrix(env, o, "qA", 1, -1, D, q_a_);
      const int64_t qr = weight_arg(env, q_a_.ref.Value(), "MlaLayer.qA").n();
      vector(env, o, "qANorm", qr, q_a_norm_, s_.q_a_norm);
      matrix(env, o, "qB", 1, H * (s_.nope + s_.rope), qr, q_b_);
    }
    matrix(env, o, "kvA", 1, s_.rank + s_.rope, D, kv_a_);
    matrix(env, o, "embedQ", H, s_.rank, s_.nope, embed_q_);
    matrix(env, o, "unembedOut", H, s_.v_dim, s_.rank, unembed_out_);
    matrix(env, o, "oProj", 1, D, H * s_.v_dim, o_proj_);
    if (o.Has("mlp") && o.Get("mlp").IsObject()) {
      Napi::Object m = o.Get("mlp").As<Napi::Object>();
      matrix(env, m, "gate", 1, -1, D, mlp_gate_);
      const int64_t inter = weight_arg(env, mlp_gate_.ref.Value(), "MlaLayer.mlp.gate").n();
      matrix(env, m, "up", 1, inter, D, mlp_up_);
      matrix(env, m, "down", 1, D, inter, mlp_down_);
    }
    if (o.Has("moe") && o.Get("moe").IsObject()) {
      Napi::Object m = o.Get("moe").As<Napi::Object>();
      matrix(env, m, "router", 1, -1, D, router_);
      const int64_t E = weight_arg(env, router_.ref.Value(), "MlaLayer.moe.router").n();
      vector(env, m, "bias", E, router_bias_, s_.router_bias);
      matrix(env, m, "gate", E, -1, D, experts_gate_);
      const int64_t inter = weight_arg(env, experts_gate_.ref.Value(), "MlaLayer.moe.gate").n();
      matrix(env, m, "up", E, inter, D, experts_up_);
      matrix(env, m, "down", E, D, inter, experts_down_);
      auto opt = [&](const char* f, int64_t max) { return integer_arg(env, m.Get(f), std::string("MlaLayer.moe.") + f, 1, max); };
      s_.route.top_k = opt("topK", E);
      s_.route.n_group = opt("nGroup", E);
      s_.route.topk_group = opt("topkGroup", s_.route.n_group);
      if (E % s_.route.n_group) throw Napi::RangeError::New(env, "MlaLayer.moe: " + std::to_string(E) + " experts do not split into " + std::to_string(s_.route.n_group) + " groups");
      s_.route.norm_topk_prob = m.Get("normTopkProb").ToBoolean().Value();
      if (!m.Get("routedScalingFactor").IsNumber()) throw Napi::TypeError::New(env, "MlaLayer.moe.routedScalingFactor: expected a number");
      s_.route.routed_scaling_factor = m.Get("routedScalingFactor").As<Napi::Number>().DoubleValue();
    } else if (!mlp_gate_.present()) {
      throw Napi::TypeError::New(env, "MlaLayer: expected an mlp or a moe feed-forward");
    }
  }

  int64_t hidden() const { return s_.hidden; }
  int64_t cache_row() const { return s_.rank + s_.rope; }

  /** The spec with every weight resolved now (released weights and closed files are refused). */
  const MlaLayerSpec& resolve(Napi::Env env) {
    auto w = [&](const Held& h, const char* what) { return h.present() ? &resolve_weight(env, h.weight, what) : nullptr; };
    s_.q = w(q_, "mlaLayers: q");
    s_.q_a = w(q_a_, "mlaLayers: qA");
    s_.q_b = w(q_b_, "mlaLayers: qB");
    s_.kv_a = w(kv_a_, "mlaLayers: kvA");
    s_.embed_q = w(embed_q_, "mlaLayers: embedQ");
    s_.unembed_out = w(unembed_out_, "mlaLayers: unembedOut");
    s_.o_proj = w(o_proj_, "mlaLayers: oProj");
    s_.mlp_gate = w(mlp_gate_, "mlaLayers: mlp.gate");
    s_.mlp_up = w(mlp_up_, "mlaLayers: mlp.up");
    s_.mlp_down = w(mlp_down_, "mlaLayers: mlp.down");
    s_.router = w(router_, "mlaLayers: moe.router");
    s_.experts_gate = w(experts_gate_, "mlaLayers: moe.gate");
    s_.experts_up = w(experts_up_, "mlaLayers: moe.up");
    s_.experts_down = w(experts_down_, "mlaLayers: moe.down");
    return s_;
  }

 private:
  /**
   * A copy of the first `length` floats (norm weights, frequencies, a bias: at most a hidden size),
   * set in the spec: looking a typed array up through N-API on every call cost more than a small
   * layer's norms (issue 14).
   */
  static void vector(Napi::Env env, Napi::Object o, const char* f, int64_t length, std::vector<float>& out, const float*& in_spec) {
    const float* p = typed_array<float>(env, o.Get(f), napi_float32_array, (size_t)length, std::string("MlaLayer.") + f);
    out.assign(p, p + length);
    in_spec = out.data();
  }

  /** A Weight of `experts` matrices [n, k] (n < 0: any). */
  static void matrix(Napi::Env env, Napi::Object o, const char* f, int64_t experts, int64_t n, int64_t k, Held& out) {
    const std::string what = std::string("MlaLayer.") + f;
    const ModelWeight& w = weight_arg(env, o.Get(f), what);
    if (w.experts != experts || (n >= 0 && w.n() != n) || w.k() != k)
      throw Napi::RangeError::New(env, what + ": a weight of " + std::to_string(w.experts) + " × [" + std::to_string(w.n()) + ", " + std::to_string(w.k()) +
                                           "], expected " + std::to_string(experts) + " × [" + (n >= 0 ? std::to_string(n) : "n") + ", " + std::to_string(k) + "]");
    out.ref = Napi::Persistent(o.Get(f).As<Napi::Object>());
    out.weight = weight_handle(env, o.Get(f), what);
  }

  MlaLayerSpec s_;
  std::vector<float> inv_freq_, input_norm_, q_a_norm_, kv_a_norm_, post_norm_, router_bias_;
  Held q_, q_a_, q_b_, kv_a_, embed_q_, unembed_out_, o_proj_, mlp_gate_, mlp_up_, mlp_down_, router_, experts_gate_, experts_up_, experts_down_;
};

// opMlaLayers(layers MlaLayer[L], x Float32Array [N·hidden], tokens Int32Array[B], offsets Int32Array[B],
//             caches Float32Array[L·B] (layer-major: each sequence's latent buffer of that layer), out Float32Array [N·hidden], activationBits)
Napi::Value OpMlaLayers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[4].IsArray()) throw Napi::TypeError::New(env, "mlaLayers: expected arrays of layers and caches");
  if (!info[2].IsTypedArray()) throw Napi::TypeError::New(env, "mlaLayers: tokens: expected an Int32Array");
  Napi::Array la = info[0].As<Napi::Array>(), ca = info[4].As<Napi::Array>();
  const uint32_t L = la.Length();
  const int64_t B = (int64_t)info[2].As<Napi::TypedArray>().ElementLength();
  if (L < 1 || B < 1) throw Napi::RangeError::New(env, "mlaLayers: no layers or no sequences");
  if ((int64_t)ca.Length() != (int64_t)L * B) throw Napi::RangeError::New(env, "mlaLayers: " + std::to_string(ca.Length()) + " cache buffers for " + std::to_string(L) + " layers × " + std::to_string(B) + " sequences");
  const int32_t* tokens = typed_array<int32_t>(env, info[2], napi_int32_array, (size_t)B, "mlaLayers: tokens");
  const int32_t* offsets = typed_array<int32_t>(env, info[3], napi_int32_array, (size_t)B, "mlaLayers: offsets");
  int64_t N = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (tokens[b] < 1 || offsets[b] < 0 || (int64_t)offsets[b] + tokens[b] > (1 << 30))
      throw Napi::RangeError::New(env, "mlaLayers: sequence " + std::to_string(b) + ": " + std::to_string(tokens[b]) + " tokens at " + std::to_string(offsets[b]) + " (expected ≥ 1 token, positions in [0, 2^30))");
    N += tokens[b];
  }
  const Napi::Function ctor = env.GetInstanceData<AddonData>()->mla_layer.Value();
  std::vector<MlaLayer*> layers(L);
  for (uint32_t l = 0; l < L; ++l) {
    Napi::Value v = la.Get(l);
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(ctor)) throw Napi::TypeError::New(env, "mlaLayers: layers[" + std::to_string(l) + "]: expected an MlaLayer");
    layers[l] = MlaLayer::Unwrap(v.As<Napi::Object>());
    if (layers[l]->hidden() != layers[0]->hidden()) throw Napi::RangeError::New(env, "mlaLayers: layers of different hidden sizes");
  }
  const int64_t D = layers[0]->hidden();
  const float* x = typed_array<float>(env, info[1], napi_float32_array, (size_t)(N * D), "mlaLayers: x");
  float* out = typed_array<float>(env, info[5], napi_float32_array, (size_t)(N * D), "mlaLayers: out");
  const int planes = planes_of(info, 6, "mlaLayers");
  std::vector<float*> caches((size_t)L * (size_t)B);
  for (uint32_t l = 0; l < L; ++l)
    for (int64_t b = 0; b < B; ++b) {
      const size_t i = (size_t)l * (size_t)B + (size_t)b;
      const Napi::Value v = ca.Get((uint32_t)i);
      const size_t need = (size_t)(((int64_t)offsets[b] + tokens[b]) * layers[l]->cache_row());
      // The message is only built for a buffer that fails (L·B of them a step).
      if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array && v.As<Napi::TypedArray>().ElementLength() >= need) {
        const Napi::TypedArray t = v.As<Napi::TypedArray>();
        caches[i] = reinterpret_cast<float*>(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
      } else {
        caches[i] = typed_array<float>(env, v, napi_float32_array, need, "mlaLayers: caches[" + std::to_string(i) + "]");
      }
    }
  // Layer outputs alternate between two buffers; the last layer writes `out`. Kept, like the layers'
  // own scratch, at the size of the largest call (a prompt chunk's, 512 rows by default): let go after
  // each prompt, they were page-faulted in again by the next, and a second 512-token prompt of the
  // 3 B model ran at 410-432 tokens/s against 514-516 with them kept (peak RSS 1,926 against 1,935 MB).
  thread_local Floats ping, pong;
  sized(ping, N * D);
  sized(pong, N * D);
  const float* in = x;
  for (uint32_t l = 0; l < L; ++l) {
    float* dst = l + 1 == L ? out : (l % 2 ? pong.p.get() : ping.p.get());
    mla_layer(layers[l]->resolve(env), in, B, tokens, offsets, caches.data() + (size_t)l * (size_t)B, dst, planes);
    in = dst;
  }
  return env.Undefined();
}

}  // namespace

void register_mla_ops(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function layer = MlaLayer::Define(env);
  data->mla_layer = Napi::Persistent(layer);
  exports.Set("MlaLayer", layer);
  export_functions(env, exports, {{"opMlaLayers", OpMlaLayers}});
}

}  // namespace mlxk

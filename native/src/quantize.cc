// See quantize.h. Every floating-point step mirrors the JavaScript reference
// exactly: MLX's rule evaluates a graph of element-wise ops in the weight dtype,
// so each intermediate is a float32 result rounded to that dtype; the MSE search
// runs in double precision with JavaScript's Math.round. binding.gyp builds with
// -ffp-contract=off, so no fused multiply-add changes a rounding.
#include "quantize.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "operands.h"
#include "wmse.h"

namespace mlxk {
namespace {

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

float round_bf16(float x) {
  const uint32_t u = bits_of(x);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return from_bits((u | 0x00400000u) & 0xffff0000u);
  return from_bits(((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) << 16);
}

// float → IEEE half → float, round to nearest even, overflow to infinity (lib/io/dtype.ts f32ToF16Bits).
float round_f16(float x) {
  const uint32_t u = bits_of(x);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const int exp = (int)((u >> 23) & 0xff);
  uint32_t mant = u & 0x7fffffu;
  uint32_t h;
  if (exp == 0xff) {
    h = sign | 0x7c00u | (mant ? 0x200u : 0u);
  } else {
    int e = exp - 127 + 15;
    if (e >= 31) {
      h = sign | 0x7c00u;
    } else if (e <= 0) {
      if (e < -10) {
        h = sign;
      } else {
        mant |= 0x800000u;
        const int shift = 14 - e;
        const uint32_t half = 1u << (shift - 1);
        const uint32_t rest = mant & ((1u << shift) - 1);
        uint32_t m = mant >> shift;
        if (rest > half || (rest == half && (m & 1u))) m++;
        h = sign | m;
      }
    } else {
      const uint32_t rest = mant & 0x1fffu;
      uint32_t m = mant >> 13;
      if (rest > 0x1000u || (rest == 0x1000u && (m & 1u))) {
        m++;
        if (m == 0x400u) {
          m = 0;
          e++;
        }
      }
      h = e >= 31 ? (sign | 0x7c00u) : (sign | ((uint32_t)e << 10) | m);
    }
  }
  const uint32_t hs = (h & 0x8000u) << 16;
  const int he = (int)((h >> 10) & 0x1f);
  const uint32_t hm = h & 0x3ffu;
  if (he == 0) return (hs ? -1.0f : 1.0f) * (float)hm * 0x1p-24f;
  if (he == 31) return from_bits(hs | 0x7f800000u | (hm << 13));
  return from_bits(hs | ((uint32_t)(he - 15 + 127) << 23) | (hm << 13));
}

}  // namespace

float round_to(float x, Dtype d) {
  switch (d) {
    case Dtype::BF16:
      return round_bf16(x);
    case Dtype::F16:
      return round_f16(x);
    default:
      return x;
  }
}

void pack_row(const uint8_t* q, int64_t cols, int bits, uint32_t* out) {
  const int64_t words = cols * bits / 32;
  std::memset(out, 0, (size_t)words * 4);
  for (int64_t i = 0, bit = 0; i < cols; ++i, bit += bits) {
    const uint32_t v = q[i];
    const int64_t w = bit >> 5;
    const int off = (int)(bit & 31);
    out[w] |= v << off;
    if (off + bits > 32) out[w + 1] |= v >> (32 - off);
  }
}

namespace {

// MLX's rule (lib/quant/affine.ts quantizeRtn).
void rtn_group(const float* w, int n, int bits, Dtype d, uint8_t* q, float& scale_out, float& bias_out) {
  const int n_bins = (1 << bits) - 1;
  const float eps = round_to(1e-7f, d);
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n; ++i) {
    lo = w[i] < lo ? w[i] : lo;
    hi = w[i] > hi ? w[i] : hi;
  }
  float scale = round_to(round_to(hi - lo, d) / (float)n_bins, d);
  scale = scale > eps ? scale : eps;
  const bool side = std::fabs(lo) > std::fabs(hi);
  if (!side) scale = -scale;
  const float edge = side ? lo : hi;
  const float q0 = std::nearbyint(round_to(edge / scale, d));
  float bias = 0.0f;
  if (q0 != 0.0f) {
    scale = round_to(edge / q0, d);
    bias = edge;
  }
  for (int i = 0; i < n; ++i) {
    const float v = std::nearbyint(round_to(round_to(w[i] - bias, d) / scale, d));
    q[i] = (uint8_t)(v < 0.0f ? 0 : v > (float)n_bins ? n_bins : (int)v);
  }
  scale_out = scale;
  bias_out = bias;
}

}  // namespace

// Candidate grids (n_bins + k·0.1 steps across [min, max], k in −10..10), least-squares
// refit, closed-form error (lib/quant/mse.ts fitGroup). The candidates are evaluated side
// by side, element by element: each candidate's sums still accumulate in element order, as
// in JavaScript, so the chosen fit is bit-identical, but the 21 chains are independent and
// vectorize. Level sums are integers, exact in any order.
void mse_fit(const float* x, int n, int n_bins, double& best_scale, double& best_bias) {
  constexpr int kSpan = 10;
  constexpr int kCands = 2 * kSpan + 1;
  const double step = 0.1;
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  const double mn = lo;
  const double mx = hi;
  if (!(mx > mn)) {
    best_scale = 0;
    best_bias = std::isinf(mn) ? 0 : mn;
    return;
  }
  double inv[kCands];
  bool valid[kCands];
  for (int c = 0; c < kCands; ++c) {
    const double steps = n_bins + (c - kSpan) * step;
    valid[c] = steps > 0;
    inv[c] = valid[c] ? steps / (mx - mn) : 0;
  }
  double sx = 0;
  double sxx = 0;
  int64_t sq[kCands] = {};
  int64_t sqq[kCands] = {};
  double sqx[kCands] = {};
  for (int i = 0; i < n; ++i) {
    const double v = x[i];
    sx += v;
    sxx += v * v;
    const double dv = v - mn;  // ≥ 0: mn is the minimum
    for (int c = 0; c < kCands; ++c) {
      // JavaScript's Math.round of a non-negative value (halves up), clamped to n_bins.
      const double t = inv[c] * dv;
      int32_t l = (int32_t)t;
      l += (t - (double)l >= 0.5) ? 1 : 0;
      l = l > n_bins ? n_bins : l;
      sq[c] += l;
      sqq[c] += (int64_t)l * l;
      sqx[c] += (double)l * v;
    }
  }
  double best_err = std::numeric_limits<double>::infinity();
  best_scale = (mx - mn) / n_bins;
  best_bias = mn;
  const double nd = n;
  for (int c = 0; c < kCands; ++c) {
    if (!valid[c]) continue;
    const double q = (double)sq[c];
    const double qq = (double)sqq[c];
    const double det = nd * qq - q * q;
    if (det <= 0) continue;
    const double scale = (nd * sqx[c] - q * sx) / det;
    const double bias = (qq * sx - q * sqx[c]) / det;
    const double err = scale * scale * qq + 2 * scale * bias * q + nd * bias * bias - 2 * scale * sqx[c] - 2 * bias * sx + sxx;
    if (err < best_err) {
      best_err = err;
      best_scale = scale;
      best_bias = bias;
    }
  }
}

namespace {

void mse_group(const float* w, int n, int bits, Dtype d, uint8_t* q, float& scale_out, float& bias_out) {
  const int n_bins = (1 << bits) - 1;
  double fs;
  double fb;
  mse_fit(w, n, n_bins, fs, fb);
  float scale = round_to((float)fs, d);
  const float bias = round_to((float)fb, d);
  if (scale == 0.0f) scale = round_to(1e-7f, d);
  for (int i = 0; i < n; ++i) {
    const double l = std::nearbyint(((double)w[i] - (double)bias) / (double)scale);
    q[i] = (uint8_t)(l < 0 ? 0 : l > n_bins ? n_bins : (int)l);
  }
  scale_out = scale;
  bias_out = bias;
}

// lib/quant/wmse.ts quantizeWmse, one group: weights, the weighted fit, each value's nearest level.
void wmse_group(const float* w, int n, int bits, Dtype d, const float* imp, Prior prior, double* wts, uint8_t* q, float& scale_out,
                float& bias_out) {
  const int n_bins = (1 << bits) - 1;
  group_weights(w, n, imp, prior, wts);
  float scale;
  float bias;
  wmse_group_fit(w, n, wts, n_bins, d, scale, bias);
  for (int i = 0; i < n; ++i) {
    const double l = std::nearbyint(((double)w[i] - (double)bias) / (double)scale);
    q[i] = (uint8_t)(l < 0 ? 0 : l > n_bins ? n_bins : (int)l);
  }
  scale_out = scale;
  bias_out = bias;
}

}  // namespace

Dtype dtype_arg(Napi::Env env, Napi::Value v) {
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "bf16") return Dtype::BF16;
  if (s == "f16") return Dtype::F16;
  if (s == "f32") return Dtype::F32;
  throw Napi::TypeError::New(env, "dtype must be 'bf16', 'f16' or 'f32'");
}

Napi::Value QuantizeAffine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = integer_arg(env, info[1], "quantizeAffine: rows", 1, (int64_t)1 << 40);
  const int64_t cols = integer_arg(env, info[2], "quantizeAffine: cols", 1, (int64_t)1 << 31);
  const int bits = (int)integer_arg(env, info[3], "quantizeAffine: bits", 2, 8);
  const int gs = (int)integer_arg(env, info[4], "quantizeAffine: groupSize", 32, 128);
  if (bits == 7 || (gs != 32 && gs != 64 && gs != 128) || cols % gs != 0)
    throw Napi::RangeError::New(env, "quantizeAffine: bits must be 2, 3, 4, 5, 6 or 8, groupSize 32, 64 or 128 and divide cols");
  const std::string method = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
  if (method != "rtn" && method != "mse" && method != "wmse") throw Napi::TypeError::New(env, "quantizeAffine: method must be 'rtn', 'mse' or 'wmse'");
  const Dtype d = dtype_arg(env, info[6]);
  const float* w = typed_array<float>(env, info[0], napi_float32_array, (size_t)(rows * cols), "quantizeAffine: w");
  // wmse: one importance row [cols] for every row of w (or none), and the data-free prior.
  const float* imp = nullptr;
  Prior prior = Prior::X2;
  if (method == "wmse") {
    if (info.Length() > 7 && !info[7].IsNull() && !info[7].IsUndefined())
      imp = typed_array<float>(env, info[7], napi_float32_array, (size_t)cols, "quantizeAffine: importance");
    const std::string p = info.Length() > 8 && info[8].IsString() ? info[8].As<Napi::String>().Utf8Value() : "";
    if (p == "absx") prior = Prior::AbsX;
    else if (p == "sqrt") prior = Prior::Sqrt;
    else if (p == "uniform") prior = Prior::Uniform;
    else if (p != "x2") throw Napi::TypeError::New(env, "quantizeAffine: prior must be 'x2', 'absx', 'sqrt' or 'uniform'");
  }
  std::vector<double> wts((size_t)gs);

  const int64_t groups = cols / gs;
  const int64_t words_per_row = cols * bits / 32;
  Napi::Uint32Array words = Napi::Uint32Array::New(env, (size_t)(rows * words_per_row));
  Napi::Float32Array scales = Napi::Float32Array::New(env, (size_t)(rows * groups));
  Napi::Float32Array biases = Napi::Float32Array::New(env, (size_t)(rows * groups));
  std::vector<uint8_t> q((size_t)cols);
  double sq_err = 0;
  double sq_ref = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    for (int64_t g = 0; g < groups; ++g) {
      float s;
      float b;
      if (method == "mse") mse_group(row + g * gs, gs, bits, d, q.data() + g * gs, s, b);
      else if (method == "wmse") wmse_group(row + g * gs, gs, bits, d, imp ? imp + g * gs : nullptr, prior, wts.data(), q.data() + g * gs, s, b);
      else rtn_group(row + g * gs, gs, bits, d, q.data() + g * gs, s, b);
      scales[(size_t)(r * groups + g)] = s;
      biases[(size_t)(r * groups + g)] = b;
      // Error of the float32 dequantization (lib/quant/affine.ts dequantize), summed in order.
      for (int i = 0; i < gs; ++i) {
        const float deq = s * (float)q[(size_t)(g * gs + i)] + b;
        const double diff = (double)deq - (double)row[g * gs + i];
        sq_err += diff * diff;
        sq_ref += (double)row[g * gs + i] * (double)row[g * gs + i];
      }
    }
    pack_row(q.data(), cols, bits, words.Data() + r * words_per_row);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("words", words);
  out.Set("scales", scales);
  out.Set("biases", biases);
  out.Set("sqErr", Napi::Number::New(env, sq_err));
  out.Set("sqRef", Napi::Number::New(env, sq_ref));
  return out;
}

}  // namespace mlxk

// See gptq.h. Each step mirrors its JavaScript reference operation for operation (the
// same running sums in the same order; -ffp-contract=off), so the two agree to the bit;
// the speed comes from doing whole row chunks per task, the lazy batch update of the
// paper as a blocked product (gptq_linalg.cc) and loops that vectorize across columns.
#include "gptq.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "dispatch.h"
#include "simd_clones.h"
#include "gptq_linalg.h"
#include "operands.h"
#include "quantize.h"
#include "wmse.h"


namespace mlxk {
namespace {

constexpr int64_t kBlock = 128;     // lazy-batch width; a multiple of every group size
constexpr int64_t kTaskRows = 16;   // rows per pool task

template <typename T>
T* array_arg(Napi::Env env, Napi::Value v, napi_typedarray_type type, size_t count, const std::string& what, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, what + ": expected a " + name);
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  if (t.ElementLength() < count)
    throw Napi::RangeError::New(env, what + ": " + name + " of length " + std::to_string(t.ElementLength()) + " is too short; " +
                                         std::to_string(count) + " elements are needed");
  return reinterpret_cast<T*>(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
}

double* f64_arg(Napi::Env env, Napi::Value v, size_t count, const std::string& what) {
  return array_arg<double>(env, v, napi_float64_array, count, what, "Float64Array");
}
float* f32_arg(Napi::Env env, Napi::Value v, size_t count, const std::string& what) {
  return array_arg<float>(env, v, napi_float32_array, count, what, "Float32Array");
}
uint8_t* u8_arg(Napi::Env env, Napi::Value v, size_t count, const std::string& what) {
  return array_arg<uint8_t>(env, v, napi_uint8_array, count, what, "Uint8Array");
}
int32_t* i32_arg(Napi::Env env, Napi::Value v, size_t count, const std::string& what) {
  return array_arg<int32_t>(env, v, napi_int32_array, count, what, "Int32Array");
}

struct Shape {
  int64_t rows, cols;
  int bits, gs;
  Dtype dtype;
};

void check_shape(Napi::Env env, const Shape& s, const char* fn) {
  if (s.bits == 7 || (s.gs != 32 && s.gs != 64 && s.gs != 128) || s.cols % s.gs != 0)
    throw Napi::RangeError::New(env, std::string(fn) + ": bits must be 2, 3, 4, 5, 6 or 8, groupSize 32, 64 or 128 and divide cols");
}

// JavaScript's rint (round half to even) is nearbyint under the default rounding mode.
inline double rint_even(double x) { return std::nearbyint(x); }

// lib/quant/gptq.ts fitInto: the group's values as float32, the weighted fit with diag H as the weights.
void fit_group(const double* vals, const double* diag, int gs, int n_bins, Dtype d, float* tmp, float& scale, float& bias) {
  for (int i = 0; i < gs; ++i) tmp[i] = (float)vals[i];
  wmse_group_fit(tmp, gs, diag, n_bins, d, scale, bias);
}

MLXK_SIMD_CLONES
void axpy(double* y, const double* x, double a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

MLXK_SIMD_CLONES
void axmy(double* y, const double* x, double a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] -= a * x[i];
}

// GPTQ of rows [r0, r1) (lib/quant/gptq.ts gptqRows), the columns beyond each 128-column
// block updated lazily at the block's end.
void gptq_chunk(const float* w, const Shape& s, const double* damped, const double* u, const int32_t* perm, bool act_order,
                int64_t r0, int64_t r1, uint8_t* codes, float* scales, float* biases) {
  const int64_t n = s.cols;
  const int64_t rows = r1 - r0;
  const int gs = s.gs;
  const int n_bins = (1 << s.bits) - 1;
  const int64_t groups = n / gs;
  std::vector<double> wp((size_t)(rows * n));
  std::vector<double> err((size_t)(rows * kBlock));
  std::vector<double> orig((size_t)n);
  std::vector<float> tmp((size_t)gs);
  std::vector<double> diag((size_t)n);
  for (int64_t j = 0; j < n; ++j) diag[(size_t)j] = damped[j * n + j];
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = w + (r0 + r) * n;
    for (int64_t j = 0; j < n; ++j) orig[(size_t)j] = src[j];
    if (act_order)
      for (int64_t g = 0; g < groups; ++g)
        fit_group(orig.data() + g * gs, diag.data() + g * gs, gs, n_bins, s.dtype, tmp.data(), scales[(r0 + r) * groups + g], biases[(r0 + r) * groups + g]);
    for (int64_t j = 0; j < n; ++j) wp[(size_t)(r * n + j)] = orig[(size_t)perm[j]];
  }
  for (int64_t i1 = 0; i1 < n; i1 += kBlock) {
    const int64_t i2 = std::min(n, i1 + kBlock);
    for (int64_t j = i1; j < i2; ++j) {
      const int64_t col = perm[j];
      const int64_t g = col / gs;
      const double ujj = u[j * n + j];
      for (int64_t r = 0; r < rows; ++r) {
        double* row = wp.data() + r * n;
        float& sc = scales[(r0 + r) * groups + g];
        float& bi = biases[(r0 + r) * groups + g];
        if (!act_order && col % gs == 0) fit_group(row + j, diag.data() + col, gs, n_bins, s.dtype, tmp.data(), sc, bi);
        const double sd = sc;
        const double bd = bi;
        double q = rint_even((row[j] - bd) / sd);
        q = q < 0 ? 0 : q > n_bins ? n_bins : q;
        codes[(r0 + r) * n + col] = (uint8_t)q;
        const double e = (row[j] - (sd * q + bd)) / ujj;
        err[(size_t)(r * kBlock + (j - i1))] = e;
        axmy(row + j + 1, u + j * n + j + 1, e, i2 - j - 1);
      }
    }
    if (i2 < n) gemm_sub_serial(wp.data() + i2, n, err.data(), kBlock, u + i1 * n + i2, n, rows, n - i2, i2 - i1);
  }
}

// ---- refit and learned rounding (lib/quant/learned.ts) ----

struct Row {
  std::vector<double> e, g, de;
  double obj = 0;
};

// e = ŵ − w, g = H·e (sum of rows of the symmetric H), obj = eᵀg.
void load_row(Row& st, const float* w, const uint8_t* codes, const float* scales, const float* biases, int64_t n, int gs,
              const double* h) {
  for (int64_t j = 0; j < n; ++j) st.e[(size_t)j] = (double)scales[j / gs] * codes[j] + (double)biases[j / gs] - (double)w[j];
  std::fill(st.g.begin(), st.g.end(), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const double ej = st.e[(size_t)j];
    if (ej == 0) continue;
    axpy(st.g.data(), h + j * n, ej, n);
  }
  double obj = 0;
  for (int64_t i = 0; i < n; ++i) obj += st.e[(size_t)i] * st.g[(size_t)i];
  st.obj = obj;
}

void refit_continuous(Row& st, const uint8_t* codes, int64_t n, int gs, const double* h, double* s, double* b, int sweeps) {
  const int64_t groups = n / gs;
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    for (int64_t k = 0; k < groups; ++k) {
      const int64_t o = k * gs;
      double a11 = 0, a12 = 0, a22 = 0, r1 = 0, r2 = 0;
      for (int i = 0; i < gs; ++i) {
        const double qi = codes[o + i];
        double hq = 0;
        double h1 = 0;
        for (int j = 0; j < gs; ++j) {
          const double hij = h[(o + i) * n + o + j];
          hq += hij * codes[o + j];
          h1 += hij;
        }
        a11 += qi * hq;
        a12 += qi * h1;
        a22 += h1;
        r1 += qi * st.g[(size_t)(o + i)];
        r2 += st.g[(size_t)(o + i)];
      }
      const double det = a11 * a22 - a12 * a12;
      double ds = 0;
      double db = 0;
      if (det > 1e-12 * a11 * a22) {
        ds = (-r1 * a22 + r2 * a12) / det;
        db = (-r2 * a11 + r1 * a12) / det;
      } else if (a22 > 0) {
        db = -r2 / a22;
      }
      if (ds == 0 && db == 0) continue;
      s[k] += ds;
      b[k] += db;
      for (int i = 0; i < gs; ++i) {
        st.de[(size_t)i] = ds * codes[o + i] + db;
        st.e[(size_t)(o + i)] += st.de[(size_t)i];
      }
      for (int j = 0; j < gs; ++j) axpy(st.g.data(), h + (o + j) * n, st.de[(size_t)j], n);
    }
  }
}

void refit_row(Row& st, const float* w, const uint8_t* codes, float* scales, float* biases, int64_t n, const Shape& sh,
               const double* h, int sweeps) {
  const int64_t groups = n / sh.gs;
  std::vector<float> old_s(scales, scales + groups);
  std::vector<float> old_b(biases, biases + groups);
  const double old_obj = st.obj;
  std::vector<double> s(old_s.begin(), old_s.end());
  std::vector<double> b(old_b.begin(), old_b.end());
  refit_continuous(st, codes, n, sh.gs, h, s.data(), b.data(), sweeps);
  for (int64_t k = 0; k < groups; ++k) {
    const float rs = round_to((float)s[(size_t)k], sh.dtype);
    scales[k] = rs == 0.0f ? old_s[(size_t)k] : rs;
    biases[k] = round_to((float)b[(size_t)k], sh.dtype);
  }
  load_row(st, w, codes, scales, biases, n, sh.gs, h);
  if (!(st.obj < old_obj)) {
    std::copy(old_s.begin(), old_s.end(), scales);
    std::copy(old_b.begin(), old_b.end(), biases);
    load_row(st, w, codes, scales, biases, n, sh.gs, h);
  }
}

void code_sweep(Row& st, uint8_t* codes, const float* scales, int64_t n, const Shape& sh, const double* h) {
  const int n_bins = (1 << sh.bits) - 1;
  double change = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double hjj = h[j * n + j];
    const double s = scales[j / sh.gs];
    if (!(hjj > 0) || s == 0) continue;
    const double c = codes[j];
    double c2 = rint_even(c - st.g[(size_t)j] / (hjj * s));
    c2 = c2 < 0 ? 0 : c2 > n_bins ? n_bins : c2;
    if (c2 == c) continue;
    const double d = s * (c2 - c);
    const double d_obj = d * (2 * st.g[(size_t)j] + d * hjj);
    if (!(d_obj < 0)) continue;
    codes[j] = (uint8_t)c2;
    st.e[(size_t)j] += d;
    axpy(st.g.data(), h + j * n, d, n);
    change += d_obj;
  }
  st.obj += change;
}

// Refit then `iters` rounds of learned rounding, rows [r0, r1).
void refine_chunk(const float* w, const Shape& sh, const double* h, int64_t r0, int64_t r1, uint8_t* codes, float* scales,
                  float* biases, int sweeps, int iters) {
  const int64_t n = sh.cols;
  const int64_t groups = n / sh.gs;
  Row st;
  st.e.assign((size_t)n, 0.0);
  st.g.assign((size_t)n, 0.0);
  st.de.assign((size_t)sh.gs, 0.0);
  for (int64_t r = r0; r < r1; ++r) {
    const float* wr = w + r * n;
    uint8_t* cr = codes + r * n;
    float* sr = scales + r * groups;
    float* br = biases + r * groups;
    load_row(st, wr, cr, sr, br, n, sh.gs, h);
    if (sweeps > 0) refit_row(st, wr, cr, sr, br, n, sh, h, sweeps);
    for (int it = 0; it < iters; ++it) {
      const double before = st.obj;
      code_sweep(st, cr, sr, n, sh, h);
      refit_row(st, wr, cr, sr, br, n, sh, h, 1);
      if (!(before - st.obj > 1e-7 * before)) break;
    }
  }
}

Shape shape_args(Napi::Env env, const Napi::CallbackInfo& info, int rows_i, int bits_i, int gs_i, const char* fn) {
  Shape s;
  s.rows = integer_arg(env, info[rows_i], std::string(fn) + ": rows", 1, (int64_t)1 << 31);
  s.cols = integer_arg(env, info[rows_i + 1], std::string(fn) + ": cols", 1, (int64_t)1 << 20);
  s.bits = (int)integer_arg(env, info[bits_i], std::string(fn) + ": bits", 2, 8);
  s.gs = (int)integer_arg(env, info[gs_i], std::string(fn) + ": groupSize", 32, 128);
  s.dtype = Dtype::F32;
  check_shape(env, s, fn);
  return s;
}

template <class F>
void for_row_tasks(int64_t rows, F&& fn) {
  const int64_t tasks = (rows + kTaskRows - 1) / kTaskRows;
  parallel_for(tasks, [&](int64_t t, int) { fn(t * kTaskRows, std::min(rows, (t + 1) * kTaskRows)); });
}

Napi::Uint32Array pack_all(Napi::Env env, const uint8_t* codes, int64_t rows, int64_t cols, int bits) {
  const int64_t wpr = cols * bits / 32;
  Napi::Uint32Array words = Napi::Uint32Array::New(env, (size_t)(rows * wpr));
  for (int64_t r = 0; r < rows; ++r) pack_row(codes + r * cols, cols, bits, words.Data() + r * wpr);
  return words;
}

}  // namespace

Napi::Value HessianAccumulate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t n = integer_arg(env, info[1], "hessianAccumulate: n", 1, (int64_t)1 << 20);
  const int64_t tokens = integer_arg(env, info[3], "hessianAccumulate: tokens", 0, (int64_t)1 << 40);
  double* h = f64_arg(env, info[0], (size_t)(n * n), "hessianAccumulate: h");
  const float* x = f32_arg(env, info[2], (size_t)(tokens * n), "hessianAccumulate: x");
  const int32_t* rows = nullptr;
  int64_t count = 0;
  if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray()) throw Napi::TypeError::New(env, "hessianAccumulate: rows: expected an Int32Array");
    count = (int64_t)info[4].As<Napi::TypedArray>().ElementLength();
    rows = i32_arg(env, info[4], (size_t)count, "hessianAccumulate: rows");
    for (int64_t i = 0; i < count; ++i)
      if (rows[i] < 0 || rows[i] >= tokens)
        throw Napi::RangeError::New(env, "hessianAccumulate: rows[" + std::to_string(i) + "] = " + std::to_string(rows[i]) +
                                             " is outside [0, " + std::to_string(tokens) + ")");
  }
  hessian_accumulate(h, n, x, tokens, rows, count);
  return env.Undefined();
}

Napi::Value GptqFactor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t n = integer_arg(env, info[1], "gptqFactor: n", 1, (int64_t)1 << 20);
  const double* d = f64_arg(env, info[0], (size_t)(n * n), "gptqFactor: damped");
  const int32_t* perm = i32_arg(env, info[2], (size_t)n, "gptqFactor: perm");
  std::vector<char> seen((size_t)n, 0);
  for (int64_t j = 0; j < n; ++j) {
    if (perm[j] < 0 || perm[j] >= n || seen[(size_t)perm[j]]) throw Napi::RangeError::New(env, "gptqFactor: perm is not a permutation of 0…n−1");
    seen[(size_t)perm[j]] = 1;
  }
  // U = J·L⁻¹·J for J·D·J = L·Lᵀ (lib/quant/gptq.ts inverseCholeskyUpper).
  std::vector<double> b((size_t)(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) b[(size_t)(i * n + j)] = d[perm[n - 1 - i] * n + perm[n - 1 - j]];
  if (!cholesky_lower(b.data(), n)) return env.Null();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) b[(size_t)(i * n + j)] = 0.0;
  std::vector<double> inv((size_t)(n * n));
  lower_inverse(b.data(), inv.data(), n);
  Napi::Float64Array u = Napi::Float64Array::New(env, (size_t)(n * n));
  double* up = u.Data();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) up[i * n + j] = j >= i ? inv[(size_t)((n - 1 - i) * n + (n - 1 - j))] : 0.0;
  return u;
}

Napi::Value GptqQuantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Shape s = shape_args(env, info, 1, 6, 7, "gptqQuantize");
  s.dtype = dtype_arg(env, info[8]);
  const int sweeps = (int)integer_arg(env, info[9], "gptqQuantize: refitSweeps", 0, 100);
  const int iters = (int)integer_arg(env, info[10], "gptqQuantize: learnedIters", 0, 100000);
  const int64_t n = s.cols;
  const float* w = f32_arg(env, info[0], (size_t)(s.rows * n), "gptqQuantize: w");
  const double* damped = f64_arg(env, info[3], (size_t)(n * n), "gptqQuantize: damped");
  const double* u = f64_arg(env, info[4], (size_t)(n * n), "gptqQuantize: u");
  const int32_t* perm = i32_arg(env, info[5], (size_t)n, "gptqQuantize: perm");
  bool act_order = false;
  for (int64_t j = 0; j < n; ++j) {
    if (perm[j] < 0 || perm[j] >= n) throw Napi::RangeError::New(env, "gptqQuantize: perm is not a permutation of 0…n−1");
    act_order = act_order || perm[j] != j;
  }
  const int64_t groups = n / s.gs;
  Napi::Uint8Array codes = Napi::Uint8Array::New(env, (size_t)(s.rows * n));
  Napi::Float32Array scales = Napi::Float32Array::New(env, (size_t)(s.rows * groups));
  Napi::Float32Array biases = Napi::Float32Array::New(env, (size_t)(s.rows * groups));
  uint8_t* cp = codes.Data();
  float* sp = scales.Data();
  float* bp = biases.Data();
  for_row_tasks(s.rows, [&](int64_t r0, int64_t r1) {
    gptq_chunk(w, s, damped, u, perm, act_order, r0, r1, cp, sp, bp);
    if (sweeps > 0 || iters > 0) refine_chunk(w, s, damped, r0, r1, cp, sp, bp, sweeps, iters);
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("codes", codes);
  out.Set("words", pack_all(env, cp, s.rows, n, s.bits));
  out.Set("scales", scales);
  out.Set("biases", biases);
  return out;
}

Napi::Value RefineCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Shape s = shape_args(env, info, 1, 7, 8, "refineCodes");
  s.dtype = dtype_arg(env, info[9]);
  const int sweeps = (int)integer_arg(env, info[10], "refineCodes: refitSweeps", 0, 100);
  const int iters = (int)integer_arg(env, info[11], "refineCodes: learnedIters", 0, 100000);
  const int64_t n = s.cols;
  const int64_t groups = n / s.gs;
  const float* w = f32_arg(env, info[0], (size_t)(s.rows * n), "refineCodes: w");
  uint8_t* codes = u8_arg(env, info[3], (size_t)(s.rows * n), "refineCodes: codes");
  float* scales = f32_arg(env, info[4], (size_t)(s.rows * groups), "refineCodes: scales");
  float* biases = f32_arg(env, info[5], (size_t)(s.rows * groups), "refineCodes: biases");
  const double* h = f64_arg(env, info[6], (size_t)(n * n), "refineCodes: h");
  const int n_bins = (1 << s.bits) - 1;
  for (int64_t i = 0; i < s.rows * n; ++i)
    if (codes[i] > n_bins) throw Napi::RangeError::New(env, "refineCodes: codes[" + std::to_string(i) + "] exceeds 2^bits − 1");
  for_row_tasks(s.rows, [&](int64_t r0, int64_t r1) { refine_chunk(w, s, h, r0, r1, codes, scales, biases, sweeps, iters); });
  return pack_all(env, codes, s.rows, n, s.bits);
}

Napi::Value HessianObjective(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t rows = integer_arg(env, info[1], "hessianObjective: rows", 1, (int64_t)1 << 31);
  const int64_t n = integer_arg(env, info[2], "hessianObjective: cols", 1, (int64_t)1 << 20);
  const int gs = (int)integer_arg(env, info[6], "hessianObjective: groupSize", 1, (int64_t)1 << 20);
  if (n % gs != 0) throw Napi::RangeError::New(env, "hessianObjective: groupSize must divide cols");
  const int64_t groups = n / gs;
  const float* w = f32_arg(env, info[0], (size_t)(rows * n), "hessianObjective: w");
  const uint8_t* codes = u8_arg(env, info[3], (size_t)(rows * n), "hessianObjective: codes");
  const float* scales = f32_arg(env, info[4], (size_t)(rows * groups), "hessianObjective: scales");
  const float* biases = f32_arg(env, info[5], (size_t)(rows * groups), "hessianObjective: biases");
  const double* h = f64_arg(env, info[7], (size_t)(n * n), "hessianObjective: h");
  std::vector<double> per_row((size_t)rows);
  for_row_tasks(rows, [&](int64_t r0, int64_t r1) {
    Row st;
    st.e.assign((size_t)n, 0.0);
    st.g.assign((size_t)n, 0.0);
    for (int64_t r = r0; r < r1; ++r) {
      load_row(st, w + r * n, codes + r * n, scales + r * groups, biases + r * groups, n, gs, h);
      per_row[(size_t)r] = st.obj;
    }
  });
  double total = 0;
  for (double v : per_row) total += v;
  return Napi::Number::New(env, total);
}

}  // namespace mlxk

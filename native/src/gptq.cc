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
//
// The reference keeps, per row, its error e = ŵ − w and g = H·e and updates g by rows of H
// one changed coordinate at a time, so each row streams all of H (n² doubles, far outside
// cache) several times. Here a block of rows moves through each step together: the
// products E·H and the refit's rank-gs updates are blocked GEMMs (gemm_sub_serial, each
// term still added in the reference's order), and a code sweep reads each row of H once
// for the whole block. Rows never interact, and every g[i] of every row takes the same
// terms in the same order as in the reference, so the results are identical to the bit.

// A task's rows; slot s holds matrix row `row[s]`; slots [0, live) are still refining.
struct Block {
  int64_t n = 0;
  int64_t live = 0;
  std::vector<int64_t> row;
  std::vector<double> e, g, obj;  // live × n, live × n, live
  std::vector<double> neg, prod;  // scratch: −E (or −ΔE) and E·H of the slots being loaded
  // H's gs×gs diagonal blocks transposed (block k at k·gs², [j][i] = H[o + i, o + j]) and their
  // row sums Σ_j H[o + i, o + j] in ascending j, for the refit; filled on first use.
  std::vector<double> diag_t, diag_sum;
};

void block_init(Block& b, int64_t n, int64_t r0, int64_t r1) {
  b.n = n;
  b.live = r1 - r0;
  b.row.resize((size_t)b.live);
  for (int64_t s = 0; s < b.live; ++s) b.row[(size_t)s] = r0 + s;
  b.e.assign((size_t)(b.live * n), 0.0);
  b.g.assign((size_t)(b.live * n), 0.0);
  b.obj.assign((size_t)b.live, 0.0);
}

// For each listed slot: e = ŵ − w, g = H·e (Σ_j e_j·H[j, :], j ascending), obj = eᵀg.
// Adding the terms with e_j = 0 that the reference skips changes no bit: g starts at +0 and
// a sum never turns into −0, so g + (±0) = g.
void load_rows(Block& b, const std::vector<int64_t>& slots, const float* w, const uint8_t* codes, const float* scales,
               const float* biases, int gs, const double* h) {
  const int64_t n = b.n;
  const int64_t m = (int64_t)slots.size();
  if (m == 0) return;
  const int64_t groups = n / gs;
  b.neg.resize((size_t)(m * n));
  b.prod.assign((size_t)(m * n), 0.0);
  for (int64_t t = 0; t < m; ++t) {
    const int64_t s = slots[(size_t)t];
    const int64_t r = b.row[(size_t)s];
    double* e = b.e.data() + s * n;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = r * groups + j / gs;
      e[j] = (double)scales[k] * codes[r * n + j] + (double)biases[k] - (double)w[r * n + j];
      b.neg[(size_t)(t * n + j)] = -e[j];
    }
  }
  // prod −= (−E)·H: each term is prod + e_j·H[j, i] exactly.
  gemm_sub_serial(b.prod.data(), n, b.neg.data(), n, h, n, m, n, n);
  for (int64_t t = 0; t < m; ++t) {
    const int64_t s = slots[(size_t)t];
    const double* e = b.e.data() + s * n;
    const double* p = b.prod.data() + t * n;
    std::copy(p, p + n, b.g.data() + s * n);
    double obj = 0;
    for (int64_t i = 0; i < n; ++i) obj += e[i] * p[i];
    b.obj[(size_t)s] = obj;
  }
}

std::vector<int64_t> live_slots(const Block& b) {
  std::vector<int64_t> all((size_t)b.live);
  for (int64_t s = 0; s < b.live; ++s) all[(size_t)s] = s;
  return all;
}

// Block coordinate descent over the groups' (scale, bias) of the live rows, codes fixed;
// s, bi: live × groups in float64. The caller reloads e and g afterwards, so the last sweep
// updates g only where later groups of that sweep read it (the columns after the group).
void refit_continuous(Block& b, const uint8_t* codes, int gs, const double* h, double* s, double* bi, int sweeps) {
  const int64_t n = b.n;
  const int64_t m = b.live;
  const int64_t groups = n / gs;
  b.neg.resize((size_t)(m * gs));
  if (b.diag_t.empty()) {
    b.diag_t.resize((size_t)(n * gs));
    b.diag_sum.resize((size_t)n);
    for (int64_t o = 0; o < n; o += gs)
      for (int i = 0; i < gs; ++i) {
        double h1 = 0;
        for (int j = 0; j < gs; ++j) {
          const double hij = h[(o + i) * n + o + j];
          b.diag_t[(size_t)(o * gs + j * gs + i)] = hij;
          h1 += hij;
        }
        b.diag_sum[(size_t)(o + i)] = h1;
      }
  }
  std::vector<double> hq((size_t)gs);
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    for (int64_t k = 0; k < groups; ++k) {
      const int64_t o = k * gs;
      const double* ht = b.diag_t.data() + o * gs;
      bool any = false;
      for (int64_t t = 0; t < m; ++t) {
        const uint8_t* c = codes + b.row[(size_t)t] * n;
        const double* g = b.g.data() + t * n;
        // hq_i = Σ_j H[o + i, o + j]·q_j in ascending j, all i at once (vectorized across i).
        std::fill(hq.begin(), hq.end(), 0.0);
        for (int j = 0; j < gs; ++j) axpy(hq.data(), ht + j * gs, (double)c[o + j], gs);
        double a11 = 0, a12 = 0, a22 = 0, r1 = 0, r2 = 0;
        for (int i = 0; i < gs; ++i) {
          const double qi = c[o + i];
          const double h1 = b.diag_sum[(size_t)(o + i)];
          a11 += qi * hq[(size_t)i];
          a12 += qi * h1;
          a22 += h1;
          r1 += qi * g[o + i];
          r2 += g[o + i];
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
        double* neg = b.neg.data() + t * gs;
        if (ds == 0 && db == 0) {
          std::fill(neg, neg + gs, 0.0);  // a zero row of the update: g + (±0) = g
          continue;
        }
        any = true;
        s[t * groups + k] += ds;
        bi[t * groups + k] += db;
        double* e = b.e.data() + t * n;
        for (int i = 0; i < gs; ++i) {
          const double de = ds * c[o + i] + db;
          e[o + i] += de;
          neg[i] = -de;
        }
      }
      // g −= (−ΔE)·H[o…o+gs, :]: the reference's g += Δe_j·H[o + j, :], j ascending.
      if (!any) continue;
      const int64_t from = sweep + 1 == sweeps ? o + gs : 0;
      gemm_sub_serial(b.g.data() + from, n, b.neg.data(), gs, h + o * n + from, n, m, n - from, gs);
    }
  }
}

void refit_rows(Block& b, const float* w, const uint8_t* codes, float* scales, float* biases, const Shape& sh, const double* h,
                int sweeps) {
  const int64_t n = b.n;
  const int64_t m = b.live;
  const int64_t groups = n / sh.gs;
  std::vector<float> old_s((size_t)(m * groups));
  std::vector<float> old_b((size_t)(m * groups));
  std::vector<double> s((size_t)(m * groups));
  std::vector<double> bi((size_t)(m * groups));
  std::vector<double> old_obj(b.obj.begin(), b.obj.begin() + m);
  for (int64_t t = 0; t < m; ++t) {
    const int64_t r = b.row[(size_t)t];
    for (int64_t k = 0; k < groups; ++k) {
      old_s[(size_t)(t * groups + k)] = scales[r * groups + k];
      old_b[(size_t)(t * groups + k)] = biases[r * groups + k];
      s[(size_t)(t * groups + k)] = scales[r * groups + k];
      bi[(size_t)(t * groups + k)] = biases[r * groups + k];
    }
  }
  refit_continuous(b, codes, sh.gs, h, s.data(), bi.data(), sweeps);
  for (int64_t t = 0; t < m; ++t) {
    const int64_t r = b.row[(size_t)t];
    for (int64_t k = 0; k < groups; ++k) {
      const float rs = round_to((float)s[(size_t)(t * groups + k)], sh.dtype);
      scales[r * groups + k] = rs == 0.0f ? old_s[(size_t)(t * groups + k)] : rs;
      biases[r * groups + k] = round_to((float)bi[(size_t)(t * groups + k)], sh.dtype);
    }
  }
  load_rows(b, live_slots(b), w, codes, scales, biases, sh.gs, h);
  std::vector<int64_t> worse;
  for (int64_t t = 0; t < m; ++t) {
    if (b.obj[(size_t)t] < old_obj[(size_t)t]) continue;
    const int64_t r = b.row[(size_t)t];
    std::copy(old_s.begin() + t * groups, old_s.begin() + (t + 1) * groups, scales + r * groups);
    std::copy(old_b.begin() + t * groups, old_b.begin() + (t + 1) * groups, biases + r * groups);
    worse.push_back(t);
  }
  load_rows(b, worse, w, codes, scales, biases, sh.gs, h);
}

// One coordinate-descent sweep over the live rows' codes, column by column, in blocks of
// kBlock columns. A move at column j updates g by row j of H: at once inside the block (the
// columns still to be decided need it), and for the columns outside the block all at the
// block's end, as one product of the block's moves (rows of H nobody moved at left out) with
// those rows of H. Either way each g[i] takes its terms in ascending j, as in the reference.
void code_sweep(Block& b, uint8_t* codes, const float* scales, const Shape& sh, const double* h) {
  const int64_t n = b.n;
  const int64_t m = b.live;
  const int64_t groups = n / sh.gs;
  const int n_bins = (1 << sh.bits) - 1;
  std::vector<double> change((size_t)m, 0.0);
  std::vector<double> moves((size_t)(m * kBlock));  // −d per row and moved column of the block
  std::vector<double> hrows((size_t)(kBlock * n));  // the rows of H of the moved columns
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t j1 = std::min(n, j0 + kBlock);
    int64_t moved = 0;
    for (int64_t j = j0; j < j1; ++j) {
      const double hjj = h[j * n + j];
      if (!(hjj > 0)) continue;
      bool any = false;
      for (int64_t t = 0; t < m; ++t) {
        double& mv = moves[(size_t)(t * kBlock + moved)];
        mv = 0.0;
        const int64_t r = b.row[(size_t)t];
        const double s = scales[r * groups + j / sh.gs];
        if (s == 0) continue;
        double* g = b.g.data() + t * n;
        const double c = codes[r * n + j];
        double c2 = rint_even(c - g[j] / (hjj * s));
        c2 = c2 < 0 ? 0 : c2 > n_bins ? n_bins : c2;
        if (c2 == c) continue;
        const double d = s * (c2 - c);
        const double d_obj = d * (2 * g[j] + d * hjj);
        if (!(d_obj < 0)) continue;
        codes[r * n + j] = (uint8_t)c2;
        b.e[(size_t)(t * n + j)] += d;
        change[(size_t)t] += d_obj;
        axpy(g + j0, h + j * n + j0, d, j1 - j0);
        mv = -d;
        any = true;
      }
      if (!any) continue;
      std::copy(h + j * n, h + (j + 1) * n, hrows.begin() + moved * n);
      ++moved;
    }
    if (moved == 0) continue;
    // g −= (−D)·H[moved, :] on the columns before and after the block.
    gemm_sub_serial(b.g.data(), n, moves.data(), kBlock, hrows.data(), n, m, j0, moved);
    gemm_sub_serial(b.g.data() + j1, n, moves.data(), kBlock, hrows.data() + j1, n, m, n - j1, moved);
  }
  for (int64_t t = 0; t < m; ++t) b.obj[(size_t)t] += change[(size_t)t];
}

// Drops the rows that are done: live slots keep their order, the others are forgotten.
void keep_slots(Block& b, const std::vector<char>& keep) {
  const int64_t n = b.n;
  int64_t out = 0;
  for (int64_t t = 0; t < b.live; ++t) {
    if (!keep[(size_t)t]) continue;
    if (out != t) {
      b.row[(size_t)out] = b.row[(size_t)t];
      std::copy(b.e.begin() + t * n, b.e.begin() + (t + 1) * n, b.e.begin() + out * n);
      std::copy(b.g.begin() + t * n, b.g.begin() + (t + 1) * n, b.g.begin() + out * n);
      b.obj[(size_t)out] = b.obj[(size_t)t];
    }
    ++out;
  }
  b.live = out;
}

// Refit then `iters` rounds of learned rounding, rows [r0, r1); a row stops when a round gains
// less than 1e-7 of its objective.
void refine_chunk(const float* w, const Shape& sh, const double* h, int64_t r0, int64_t r1, uint8_t* codes, float* scales,
                  float* biases, int sweeps, int iters) {
  Block b;
  block_init(b, sh.cols, r0, r1);
  load_rows(b, live_slots(b), w, codes, scales, biases, sh.gs, h);
  if (sweeps > 0) refit_rows(b, w, codes, scales, biases, sh, h, sweeps);
  for (int it = 0; it < iters && b.live > 0; ++it) {
    std::vector<double> before(b.obj.begin(), b.obj.begin() + b.live);
    code_sweep(b, codes, scales, sh, h);
    refit_rows(b, w, codes, scales, biases, sh, h, 1);
    std::vector<char> keep((size_t)b.live);
    for (int64_t t = 0; t < b.live; ++t) keep[(size_t)t] = before[(size_t)t] - b.obj[(size_t)t] > 1e-7 * before[(size_t)t];
    keep_slots(b, keep);
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
    Block b;
    block_init(b, n, r0, r1);
    load_rows(b, live_slots(b), w, codes, scales, biases, gs, h);
    std::copy(b.obj.begin(), b.obj.end(), per_row.begin() + r0);
  });
  double total = 0;
  for (double v : per_row) total += v;
  return Napi::Number::New(env, total);
}

}  // namespace mlxk

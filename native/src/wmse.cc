// See wmse.h. Each step is the JavaScript reference's operation for operation (the same
// running sums in the same order, JavaScript's Math.round and rint); binding.gyp builds with
// -ffp-contract=off, so the chosen scale and bias are the same bits.
#include "wmse.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace mlxk {
namespace {

constexpr int kLloydRounds = 32;

struct Fit {
  double scale = 0, bias = 0, err = 0;
};

inline double clamp_level(double l, int n_bins) { return l < 0 ? 0 : l > n_bins ? n_bins : l; }

bool solve(double sw, double swx, double swxx, double swq, double swqq, double swqx, Fit& f) {
  const double det = sw * swqq - swq * swq;
  if (!(det > 0)) return false;
  f.scale = (sw * swqx - swq * swx) / det;
  f.bias = (swqq * swx - swq * swqx) / det;
  f.err = f.scale * f.scale * swqq + 2 * f.scale * f.bias * swq + sw * f.bias * f.bias - 2 * f.scale * swqx - 2 * f.bias * swx + swxx;
  return true;
}

bool weighted_fit(const float* x, int n, const double* w, int n_bins, Fit& best) {
  float lo = INFINITY;
  float hi = -INFINITY;
  for (int i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  const double mn = lo;
  const double mx = hi;
  if (!(mx > mn)) return false;
  double sw = 0, swx = 0, swxx = 0;
  for (int i = 0; i < n; ++i) {
    const double v = x[i];
    sw += w[i];
    swx += w[i] * v;
    swxx += w[i] * v * v;
  }
  bool have = false;
  for (int k = -10; k <= 10; ++k) {
    const double steps = n_bins + k * 0.1;
    const double inv = steps / (mx - mn);
    double swq = 0, swqq = 0, swqx = 0;
    for (int i = 0; i < n; ++i) {
      const double v = x[i];
      // Math.round of a non-negative value (halves up).
      const double t = inv * (v - mn);
      double l = std::floor(t);
      l += (t - l >= 0.5) ? 1 : 0;
      l = l > n_bins ? n_bins : l;
      swq += w[i] * l;
      swqq += w[i] * l * l;
      swqx += w[i] * l * v;
    }
    Fit f;
    if (solve(sw, swx, swxx, swq, swqq, swqx, f) && (!have || f.err < best.err)) {
      best = f;
      have = true;
    }
  }
  if (!have) return false;
  for (int round = 0; round < kLloydRounds && best.scale != 0; ++round) {
    double swq = 0, swqq = 0, swqx = 0;
    for (int i = 0; i < n; ++i) {
      const double v = x[i];
      const double l = clamp_level(std::nearbyint((v - best.bias) / best.scale), n_bins);
      swq += w[i] * l;
      swqq += w[i] * l * l;
      swqx += w[i] * l * v;
    }
    Fit f;
    if (!solve(sw, swx, swxx, swq, swqq, swqx, f) || !(f.err < best.err)) break;
    best = f;
  }
  return true;
}

double stored_error(const float* x, int n, const double* w, int n_bins, double scale, double bias) {
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const double l = clamp_level(std::nearbyint(((double)x[i] - bias) / scale), n_bins);
    const double d = scale * l + bias - (double)x[i];
    err += w[i] * d * d;
  }
  return err;
}

uint32_t storage_step(Dtype d) { return d == Dtype::BF16 ? 0x10000u : d == Dtype::F16 ? 0x2000u : 1u; }

float neighbour(float r, bool up, uint32_t step, Dtype d) {
  uint32_t u;
  std::memcpy(&u, &r, 4);
  if (r == 0.0f) u = up ? step : (0x80000000u | step);
  else u = ((r > 0) == up) ? u + step : u - step;
  float f;
  std::memcpy(&f, &u, 4);
  return round_to(f, d);
}

// The one or two storage values bracketing v: its nearest, then the other side's.
int bracket(double v, Dtype d, float out[2]) {
  const float r = round_to((float)v, d);
  out[0] = r;
  if ((double)r == v || !std::isfinite(r)) return 1;
  out[1] = neighbour(r, v > (double)r, storage_step(d), d);
  return 2;
}

}  // namespace

void group_weights(const float* x, int n, const float* imp, Prior prior, double* out) {
  double sum2 = 0;
  for (int i = 0; i < n; ++i) sum2 += (double)x[i] * (double)x[i];
  const double sigma2 = (2 * sum2) / n;
  for (int i = 0; i < n; ++i) {
    const double v = x[i];
    const double own = prior == Prior::X2     ? 0.25 * sigma2 + v * v
                       : prior == Prior::AbsX ? std::sqrt(sigma2) + std::fabs(v)
                       : prior == Prior::Sqrt ? std::sqrt(sigma2 + v * v)
                                              : 1.0;
    out[i] = imp ? (double)imp[i] * own : own;
  }
}

void wmse_group_fit(const float* x, int n, const double* weights, int n_bins, Dtype d, float& scale_out, float& bias_out) {
  const float eps = round_to(1e-7f, d);
  double ps;
  double pb;
  mse_fit(x, n, n_bins, ps, pb);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += weights[i];
  std::vector<double> ones;
  const double* w = weights;
  if (!(sum > 0)) {
    ones.assign((size_t)n, 1.0);
    w = ones.data();
  }
  float best_s = round_to((float)ps, d);
  if (best_s == 0.0f) best_s = eps;
  float best_b = round_to((float)pb, d);
  Fit fit;
  if (weighted_fit(x, n, w, n_bins, fit)) {
    double best_err = stored_error(x, n, w, n_bins, best_s, best_b);
    float ss[2];
    float bs[2];
    const int ns = bracket(fit.scale, d, ss);
    const int nb = bracket(fit.bias, d, bs);
    for (int i = 0; i < ns; ++i) {
      for (int j = 0; j < nb; ++j) {
        const float s = ss[i] == 0.0f ? eps : ss[i];
        const double err = stored_error(x, n, w, n_bins, s, bs[j]);
        if (err < best_err) {
          best_err = err;
          best_s = s;
          best_b = bs[j];
        }
      }
    }
  }
  scale_out = best_s;
  bias_out = best_b;
}

}  // namespace mlxk

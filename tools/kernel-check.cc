// Checks one SIMD kernel set (CHECKED_SET at compile time: neon or avx512) on random inputs:
// against the scalar set, activation quantization (one and two planes) bit for bit and quantized
// GEMV/GEMM and dense products within float reassociation error, for every bit width × group size
// × scale dtype, with K not a multiple of 64 and N not a multiple of the row tile; against a
// float64 attention (the NEON set runs the portable kernel), attention of 1 … 8 heads, widths off
// the vector widths and key counts up to several of the spans the kernels walk (kernels.h
// attend_in_spans), whole and as 3 key ranges merged from their statistics (attend_merge);
// outputs poisoned with NaN to catch unwritten elements. For the sets CI's machine cannot run: tools/check-kernels.sh builds
// this and runs it under qemu-aarch64 (neon) or with AVX-512 emulated by SIMDe (avx512), or
// natively where the CPU has the set. Exit status 0 when everything agrees.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels.h"

using namespace mlxk;

#define MLXK_CHECKED_NAME2(set) #set
#define MLXK_CHECKED_NAME(set) MLXK_CHECKED_NAME2(set)
#define MLXK_CHECKED_KERNELS2(set) set##_kernels
#define MLXK_CHECKED_KERNELS(set) MLXK_CHECKED_KERNELS2(set)

namespace {

const char* const kSetName = MLXK_CHECKED_NAME(CHECKED_SET);
const Kernels& checked_kernels() { return MLXK_CHECKED_KERNELS(CHECKED_SET)(); }

std::mt19937 rng(20261122);

float normal() { return std::normal_distribution<float>(0.0f, 1.0f)(rng); }

void put_scale(std::vector<uint8_t>& out, float v, int t) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if (t == MLXK_SCALE_F32) {
    for (int i = 0; i < 4; ++i) out.push_back((uint8_t)(u >> (8 * i)));
  } else {
    const uint16_t h = (uint16_t)(u >> 16);  // bf16 by truncation: any value will do
    out.push_back((uint8_t)h);
    out.push_back((uint8_t)(h >> 8));
  }
}

struct Act {
  std::vector<int8_t> q, q2;
  std::vector<float> d, sx;
  ActBuffer buf;
};

void quantize(const Kernels& kern, const std::vector<float>& x, int rows, int64_t k, int gs, bool planes2, Act& a) {
  const int64_t kpad = pad64(k);
  a.q.assign(rows * kpad, 99);
  a.q2.assign(rows * kpad, 99);
  a.d.assign(rows * kpad / kActBlock, -1.0f);
  a.sx.assign(rows * (k / gs), -1.0f);
  a.buf = ActBuffer{};
  a.buf.rows = rows;
  a.buf.k = k;
  a.buf.kpad = kpad;
  a.buf.group_size = gs;
  a.buf.q = a.q.data();
  a.buf.q2 = planes2 ? a.q2.data() : nullptr;
  a.buf.d = a.d.data();
  a.buf.sx = a.sx.data();
  kern.quantize_rows(x.data(), rows, k, a.buf);
}

void* aligned(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes + 64) != 0) std::abort();
  return p;
}

// out[m][n] from one kernel entry point over all rows; NaN where it wrote nothing.
std::vector<float> product(const Kernels& kern, const QuantMatrix& w, const Act& a, int m, bool gemm) {
  std::vector<float> out(m * w.n, NAN);
  std::vector<float*> rows(m);
  std::vector<ActRow> acts(m);
  for (int i = 0; i < m; ++i) {
    rows[i] = out.data() + i * w.n;
    acts[i] = act_row(a.buf, i);
  }
  void* s = aligned(kern.scratch_bytes(w.k, w.group_size));
  if (gemm) {
    kern.gemm(w, acts.data(), m, rows.data(), 0, w.n, s);
  } else {
    for (int i = 0; i < m; i += kGemvMaxM) {
      const int c = m - i < kGemvMaxM ? m - i : kGemvMaxM;
      kern.gemv(w, acts.data() + i, c, rows.data() + i, 0, w.n, s);
    }
  }
  std::free(s);
  return out;
}

int failures = 0;

uint32_t row_value(int bits, const uint8_t* row, int64_t c) {
  switch (bits) {
    case 2: return mlxk_row_value<2>(row, (mlxk_u64)c);
    case 3: return mlxk_row_value<3>(row, (mlxk_u64)c);
    case 4: return mlxk_row_value<4>(row, (mlxk_u64)c);
    case 5: return mlxk_row_value<5>(row, (mlxk_u64)c);
    case 6: return mlxk_row_value<6>(row, (mlxk_u64)c);
    default: return mlxk_row_value<8>(row, (mlxk_u64)c);
  }
}

void expect_close(const char* what, const std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& scale) {
  for (size_t i = 0; i < a.size(); ++i) {
    const double tol = 1e-4 * scale[i] + 1e-6;
    if (!(std::fabs((double)a[i] - (double)b[i]) <= tol)) {
      std::printf("FAIL %s: element %zu scalar %.8g %s %.8g (tolerance %.3g)\n", what, i, a[i], kSetName, b[i], tol);
      ++failures;
      return;
    }
  }
}

void check_quantized(int bits, int gs, int st, int64_t k, int64_t n) {
  const size_t srb = (size_t)(k / gs) * mlxk_scale_bytes(st);
  std::vector<uint8_t> w((size_t)n * k * bits / 8), scales, biases;
  for (auto& b : w) b = (uint8_t)rng();
  for (int64_t i = 0; i < n * (k / gs); ++i) {
    put_scale(scales, 0.02f * normal(), st);
    put_scale(biases, 0.1f * normal(), st);
  }
  const QuantMatrix qm{w.data(), scales.data(), biases.data(), n, k, bits, gs, st};
  for (int m : {1, 3, 4, 5, 17}) {
    std::vector<float> x(m * k);
    for (auto& v : x) v = normal() * (rng() % 9 == 0 ? 20.0f : 1.0f);
    // Σ|w·x| per output, in double: the scale of the rounding error of any summation order.
    std::vector<double> mag(m * n, 0.0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        const uint32_t q = row_value(bits, w.data() + r * (k * bits / 8), c);
        const float s = mlxk_load_scale(scales.data() + r * srb, (mlxk_u64)(c / gs), st);
        const float b = mlxk_load_scale(biases.data() + r * srb, (mlxk_u64)(c / gs), st);
        const double wv = std::fabs((double)s * q) + std::fabs((double)b);
        for (int i = 0; i < m; ++i) mag[i * n + r] += wv * std::fabs((double)x[i * k + c]);
      }
    for (bool planes2 : {false, true}) {
      Act as, an;
      quantize(scalar_kernels(), x, m, k, gs, planes2, as);
      quantize(checked_kernels(), x, m, k, gs, planes2, an);
      char what[160];
      std::snprintf(what, sizeof what, "quantize_rows bits=%d gs=%d k=%lld m=%d planes=%d", bits, gs, (long long)k, m, planes2 ? 2 : 1);
      if (as.q != an.q || (planes2 && as.q2 != an.q2) || as.d != an.d) {
        std::printf("FAIL %s: codes or block scales differ\n", what);
        ++failures;
      }
      for (bool gemm : {false, true}) {
        std::snprintf(what, sizeof what, "%s bits=%d gs=%d scale=%s k=%lld n=%lld m=%d planes=%d", gemm ? "gemm" : "gemv", bits, gs,
                      st == MLXK_SCALE_F32 ? "f32" : "bf16", (long long)k, (long long)n, m, planes2 ? 2 : 1);
        expect_close(what, product(scalar_kernels(), qm, as, m, gemm), product(checked_kernels(), qm, an, m, gemm), mag);
      }
    }
  }
}

void check_dense(int dtype, int64_t k, int64_t n) {
  std::vector<uint8_t> w;
  std::vector<float> wf(n * k);
  for (auto& v : wf) {
    v = 0.05f * normal();
    put_scale(w, v, dtype);
  }
  // 1-24 rows: AVX-512 register tiles (8 weight rows at m = 1; 4 × 4 and the 1-3 row remainders); 25: panels.
  for (int m : {1, 3, 6, 8, 13, 24, 25}) {
    std::vector<float> x(m * k);
    for (auto& v : x) v = normal();
    std::vector<double> mag(m * n, 0.0);
    for (int i = 0; i < m; ++i)
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) mag[i * n + r] += std::fabs((double)wf[r * k + c] * x[i * k + c]);
    const DenseMatrix dm{w.data(), n, k, dtype};
    std::vector<const float*> xr(m);
    for (int i = 0; i < m; ++i) xr[i] = x.data() + i * k;
    auto run = [&](const Kernels& kern) {
      std::vector<float> out(m * n, NAN);
      std::vector<float*> rows(m);
      for (int i = 0; i < m; ++i) rows[i] = out.data() + i * n;
      kern.dense(dm, xr.data(), m, rows.data(), 0, n);
      return out;
    };
    char what[96];
    std::snprintf(what, sizeof what, "dense dtype=%s k=%lld n=%lld m=%d", dtype == MLXK_SCALE_F32 ? "f32" : "bf16", (long long)k, (long long)n, m);
    expect_close(what, run(scalar_kernels()), run(checked_kernels()), mag);
  }
}

int attention_blocks = 0;

/** The attention of a's heads in float64, as the definition reads (one pass, no spans): the reference. */
std::vector<double> attention_f64(const AttendBlock& a) {
  std::vector<double> out((size_t)(a.nh * a.dv), 0.0), p((size_t)a.visible);
  for (int64_t h = 0; h < a.nh; ++h) {
    double m = -INFINITY, z = 0.0;
    for (int64_t s = 0; s < a.visible; ++s) {
      double dot = 0.0;
      for (int64_t i = 0; i < a.d; ++i) dot += (double)a.q[h * a.d + i] * a.k[s * a.k_stride + i];
      p[(size_t)s] = dot * a.scale;
      m = std::max(m, p[(size_t)s]);
    }
    for (int64_t s = 0; s < a.visible; ++s) z += p[(size_t)s] = std::exp(p[(size_t)s] - m);
    for (int64_t s = 0; s < a.visible; ++s)
      for (int64_t i = 0; i < a.dv; ++i) out[(size_t)(h * a.dv + i)] += p[(size_t)s] / z * a.v[s * a.v_stride + i];
  }
  return out;
}

void check_attention() {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t shapes[][2] = {{16, 8}, {40, 24}, {80, 64}, {288, 256}, {576, 512}, {17, 33}};
  for (const auto& shape : shapes) {
    const int64_t d = shape[0], dv = shape[1], row = d > dv ? d : dv;
    for (const int64_t visible : {1, 3, 4, 5, 72, 341, 700, 1229, 3001}) {
      for (int64_t nh = 1; nh <= kAttendMaxHeads; ++nh) {
        for (const float sharpness : {1.0f, 6.0f}) {
          std::vector<float> rows((size_t)(visible * row)), q((size_t)(nh * d));
          for (auto& v : rows) v = dist(rng);
          for (auto& v : q) v = dist(rng) * sharpness;
          std::vector<float> got((size_t)(nh * dv), NAN), scores((size_t)(nh * visible));
          const AttendBlock block{q.data(), d, nh, rows.data(), row, rows.data(), row, visible, dv, 1.0f / std::sqrt((float)d), scores.data(), got.data(), nullptr};
          checked_kernels().attend(block);
          const std::vector<double> want = attention_f64(block);
          ++attention_blocks;
          // The same keys in 3 ranges, each leaving its softmax statistics, merged (model_attention's split).
          std::vector<float> merged((size_t)(nh * dv), NAN);
          if (visible >= 3) {
            std::vector<float> outs((size_t)(3 * nh * dv), NAN), stats((size_t)(3 * 2 * nh), NAN);
            for (int64_t j = 0; j < 3; ++j) {
              const int64_t k0 = visible * j / 3, k1 = visible * (j + 1) / 3;
              checked_kernels().attend(AttendBlock{q.data(), d, nh, rows.data() + k0 * row, row, rows.data() + k0 * row, row, k1 - k0, dv,
                                                   block.scale, scores.data(), outs.data() + j * nh * dv, stats.data() + j * 2 * nh});
            }
            attend_merge(outs.data(), stats.data(), 3, nh, dv, merged.data());
          }
          for (const auto* result : {&got, &merged}) {
            if (result == &merged && visible < 3) break;
            for (size_t i = 0; i < want.size(); ++i) {
              // Weighted means of N(0, 1) values: float32 agrees to ~1e-5 (1e-4 over thousands of keys).
              if (!(std::fabs((*result)[i] - want[i]) <= 1e-4)) {
                std::printf("FAIL attend%s d=%ld dv=%ld keys=%ld heads=%ld sharpness=%.0f: out[%zu] float64 %g %s %g\n",
                            result == &merged ? " in 3 ranges" : "", (long)d, (long)dv, (long)visible, (long)nh, sharpness, i, want[i],
                            kSetName, (*result)[i]);
                ++failures;
                break;
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

int main() {
  int cases = 0;
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (int gs : {32, 64, 128})
      for (int st : {MLXK_SCALE_BF16, MLXK_SCALE_F32})
        // 2176: 17, 34 or 68 groups, past the 16 a GEMV tile holds in registers, with a part segment.
        for (int64_t k : {(int64_t)gs * 3, (int64_t)gs * 5, (int64_t)1024, (int64_t)2176}) {
          check_quantized(bits, gs, st, k, 37);
          ++cases;
        }
  for (int dtype : {MLXK_SCALE_BF16, MLXK_SCALE_F32})
    for (int64_t k : {(int64_t)40, (int64_t)333}) {
      check_dense(dtype, k, 29);
      ++cases;
    }
  check_attention();
  std::printf("%s: %d matrix shapes × activation counts × planes equal to scalar, %d attention blocks equal to float64: %s\n",
              kSetName, cases, attention_blocks, failures ? "FAILED" : "all equal");
  return failures ? 1 : 0;
}

// Checks one SIMD kernel set's attention against the portable kernel (kernels_scalar.cc) on random
// blocks: head counts 1 … 8, widths d and dv off the vector widths, key counts from 1 to several of
// the spans the SIMD kernels walk (kernels.h attend_in_spans), flat and peaked scores, outputs
// poisoned with NaN. For kernel sets this machine's CI cannot run (AVX-512 on an AVX2-only CI
// machine): tools/check-attend.sh builds it and runs it on a machine that has the set. Exit status
// 0 when every output agrees within float reassociation error.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu.h"
#include "kernels.h"

using namespace mlxk;

int main(int argc, char** argv) {
  const std::string isa = argc > 1 ? argv[1] : "avx512";
  const Kernels* kern = kernels_by_name(isa);
  if (!kern || std::string(kern->name) != isa) {
    std::fprintf(stderr, "attend-check: this CPU cannot run the %s kernel set\n", isa.c_str());
    return 2;
  }
  std::mt19937 rng(20261207);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int checked = 0, failed = 0;
  const int64_t shapes[][2] = {{16, 8}, {40, 24}, {80, 64}, {288, 256}, {576, 512}, {17, 33}};
  for (const auto& shape : shapes) {
    const int64_t d = shape[0], dv = shape[1], row = d > dv ? d : dv;
    for (const int64_t visible : {1, 3, 4, 5, 72, 341, 700, 1229, 3001}) {
      for (int64_t nh = 1; nh <= kAttendMaxHeads; ++nh) {
        for (const float sharpness : {1.0f, 6.0f}) {
          std::vector<float> rows((size_t)(visible * row)), q((size_t)(nh * d));
          for (auto& v : rows) v = normal(rng);
          for (auto& v : q) v = normal(rng) * sharpness;
          std::vector<float> want((size_t)(nh * dv), NAN), got((size_t)(nh * dv), NAN), s1((size_t)(nh * visible)), s2(s1.size());
          const float scale = 1.0f / std::sqrt((float)d);
          attend_portable(AttendBlock{q.data(), d, nh, rows.data(), row, rows.data(), row, visible, dv, scale, s1.data(), want.data()});
          kern->attend(AttendBlock{q.data(), d, nh, rows.data(), row, rows.data(), row, visible, dv, scale, s2.data(), got.data()});
          ++checked;
          for (size_t i = 0; i < want.size(); ++i) {
            // Weighted means of N(0, 1) values: float32 in another order agrees to ~1e-5 (1e-4 over thousands of keys).
            if (!(std::fabs(got[i] - want[i]) <= 1e-4f)) {
              if (failed++ < 10)
                std::printf("FAIL %s d %ld dv %ld keys %ld heads %ld sharpness %.0f: out[%zu] = %g, portable %g\n", isa.c_str(), (long)d,
                            (long)dv, (long)visible, (long)nh, sharpness, i, got[i], want[i]);
              break;
            }
          }
        }
      }
    }
  }
  std::printf("attend-check %s: %d blocks, %d failed\n", isa.c_str(), checked, failed);
  return failed ? 1 : 0;
}

// One kernel set's decode attention alone (a SIMD set's, or the portable one: kernels_scalar.cc) (no Node, for machines that have a compiler but no
// toolchain for the addon): 8 query heads over caches of 300 … 32K keys at the 3 B model's shape
// (d 288, dv 256) and Kimi-K2's absorbed MLA (d 576, dv 512), best of 15 on one thread.
// Built and run by benchmarks/attend-kernel.sh.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels.h"

#ifdef ATTEND_PORTABLE
#define ATTEND attend_portable  // kernels.h
#else
namespace mlxk {
namespace ATTEND_SET {
void attend(const AttendBlock& a);
}
}  // namespace mlxk
#define ATTEND ATTEND_SET::attend
#endif

using namespace mlxk;

int main(int argc, char** argv) {
  const char* label = argc > 1 ? argv[1] : "attend";
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const int64_t shapes[][2] = {{288, 256}, {576, 512}};
  for (const auto& shape : shapes)
    for (const int64_t keys : {300, 1024, 4096, 16384, 32768}) {
      const int64_t d = shape[0], dv = shape[1], nh = 8;
      std::vector<float> rows((size_t)(keys * d)), q((size_t)(nh * d)), scores((size_t)(nh * keys)), out((size_t)(nh * dv));
      for (auto& v : rows) v = uniform(rng);
      for (auto& v : q) v = uniform(rng);
      double best = 1e30;
      for (int r = 0; r < 15; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        ATTEND(AttendBlock{q.data(), d, nh, rows.data(), d, rows.data(), d, keys, dv, 0.06f, scores.data(), out.data(), nullptr});
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("%s d %ld dv %ld keys %ld: %.3f ms, %.1f ns per (head, key)\n", label, (long)d, (long)dv, (long)keys, best,
                  best * 1e6 / (double)(nh * keys));
    }
}

// One decoded sequence of Kimi-K2's absorbed MLA through model_attention (the dispatcher and the
// kernel set the CPU picks): 64 query heads over one key head of 576-float latent rows (values:
// their first 512), 32K keys, best of 7 at each thread count. COLD=1 writes 512 MiB between calls,
// so the cache comes from DRAM as a layer's does in a real step. Built and run by
// benchmarks/mqa-attention.sh (C++ only, for machines without Node).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "dispatch.h"
#include "model_ops.h"

using namespace mlxk;

int main(int argc, char** argv) {
  const char* label = argc > 1 ? argv[1] : "attention";
  const bool cold = std::getenv("COLD") != nullptr;
  std::vector<char> flush(cold ? (size_t)512 << 20 : 0);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const int64_t heads = 64, d = 576, dv = 512, keys = 32768;
  std::vector<float> cache((size_t)(keys * d)), q((size_t)(heads * d)), out((size_t)(heads * dv));
  for (auto& v : cache) v = uniform(rng);
  for (auto& v : q) v = uniform(rng);
  const StridedRows rows{cache.data(), d, 0};
  const AttentionSegment seg{rows, rows, 1, keys};
  for (int i = 2; i < argc; ++i) {
    const int threads = std::atoi(argv[i]);
    set_threads(threads);
    double best = 1e30;
    for (int r = 0; r < 7; ++r) {
      if (cold) std::memset(flush.data(), r, flush.size());
      const auto t0 = std::chrono::steady_clock::now();
      model_attention(q.data(), heads, d, &seg, 1, 1, dv, 0.04f, out.data());
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("%s %s%ld keys, %d threads: %.2f ms\n", label, cold ? "cold " : "", (long)keys, threads, best);
  }
}

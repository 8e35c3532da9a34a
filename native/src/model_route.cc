// Expert routing for the native backend: the rules (and the float32 roundings) of
// lib/backend/route.ts, which follows transformers' DeepseekV3TopkRouter (noaux_tc) and
// Qwen3MoeSparseMoeBlock (softmax top-k).
#include <algorithm>
#include <cmath>
#include <vector>

#include "model_ops.h"

namespace mlxk {
namespace {

/** Indices of the `count` largest of v[0..n) among `allowed` (null = all), largest first, ties to the lower index. */
template <typename T>
void top_indices(const T* v, int64_t n, int64_t count, const uint8_t* allowed, std::vector<int32_t>& idx) {
  idx.clear();
  for (int64_t i = 0; i < n; ++i)
    if (!allowed || allowed[i]) idx.push_back((int32_t)i);
  const int64_t c = std::min<int64_t>(count, (int64_t)idx.size());
  std::partial_sort(idx.begin(), idx.begin() + c, idx.end(), [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  idx.resize((size_t)c);
}

}  // namespace

// Sigmoid scores and choices are stored as float32, ties go to the lower index.
void model_route_noaux_tc(const float* logits, int64_t tokens, int64_t experts, const float* bias, const NoAuxOptions& o,
                          int32_t* indices, float* weights) {
  const int64_t per_group = experts / o.n_group;
  std::vector<float> scores((size_t)experts), choice((size_t)experts), group_score((size_t)o.n_group);
  std::vector<uint8_t> allowed((size_t)experts);
  std::vector<int32_t> idx, groups;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t e = 0; e < experts; ++e) {
      scores[(size_t)e] = (float)(1.0 / (1.0 + std::exp(-(double)logits[t * experts + e])));
      choice[(size_t)e] = scores[(size_t)e] + bias[e];
    }
    std::fill(allowed.begin(), allowed.end(), (uint8_t)1);
    if (o.n_group > 1) {
      for (int64_t g = 0; g < o.n_group; ++g) {
        top_indices(choice.data() + g * per_group, per_group, 2, nullptr, idx);
        double s = 0.0;
        for (int32_t i : idx) s += choice[(size_t)(g * per_group + i)];
        group_score[(size_t)g] = (float)s;
      }
      top_indices(group_score.data(), o.n_group, o.topk_group, nullptr, groups);
      std::fill(allowed.begin(), allowed.end(), (uint8_t)0);
      for (int32_t g : groups) std::fill(allowed.begin() + g * per_group, allowed.begin() + (g + 1) * per_group, (uint8_t)1);
    }
    top_indices(choice.data(), experts, o.top_k, allowed.data(), idx);
    double sum = 0.0;
    for (int32_t e : idx) sum += scores[(size_t)e];
    const double denom = o.norm_topk_prob ? sum + 1e-20 : 1.0;
    for (int64_t j = 0; j < o.top_k; ++j) {
      const int32_t e = j < (int64_t)idx.size() ? idx[(size_t)j] : 0;
      indices[t * o.top_k + j] = e;
      weights[t * o.top_k + j] = j < (int64_t)idx.size() ? (float)(scores[(size_t)e] / denom * o.routed_scaling_factor) : 0.0f;
    }
  }
}

void model_route_softmax_topk(const float* logits, int64_t tokens, int64_t experts, int64_t top_k, bool norm,
                              int32_t* indices, float* weights) {
  std::vector<double> probs((size_t)experts);
  std::vector<int32_t> idx;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* l = logits + t * experts;
    double m = -INFINITY;
    for (int64_t e = 0; e < experts; ++e) m = std::max(m, (double)l[e]);
    double total = 0.0;
    for (int64_t e = 0; e < experts; ++e) total += probs[(size_t)e] = std::exp((double)l[e] - m);
    for (int64_t e = 0; e < experts; ++e) probs[(size_t)e] /= total;
    top_indices(probs.data(), experts, top_k, nullptr, idx);
    double sum = 0.0;
    for (int32_t e : idx) sum += probs[(size_t)e];
    for (int64_t j = 0; j < top_k; ++j) {
      const int32_t e = idx[(size_t)j];
      indices[t * top_k + j] = e;
      weights[t * top_k + j] = (float)(norm ? probs[(size_t)e] / sum : probs[(size_t)e]);
    }
  }
}

}  // namespace mlxk

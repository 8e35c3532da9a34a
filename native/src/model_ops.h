// The layers of a forward pass on float32 activations (lib/backend/native/ops.ts is
// their caller): products over quantized or dense weights (through the kernels in
// dispatch.h), embedding rows, RMSNorm, rope, causal attention, SwiGLU, expert routing
// and whole MoE blocks. Big loops run on the kernels' thread pool. Arguments are
// validated by the N-API layer (addon_ops.cc); nothing here throws.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels.h"

namespace mlxk {

/**
 * A float buffer grown on demand and not zeroed, for intermediates written whole before they are
 * read: zeroing a 512-token prompt's (tens of MB a layer) took 5 % of it on the 3 B model.
 */
struct Floats {
  std::unique_ptr<float[]> p;
  int64_t n = 0;
};

/** v's storage for at least n floats (its contents are not kept when it grows). */
inline float* sized(Floats& v, int64_t n) {
  if (v.n < n) {
    v.p.reset(new float[(size_t)n]);
    v.n = n;
  }
  return v.p.get();
}

/** A matrix [n, k] or a stack [experts, n, k]: MLX affine (q) or dense bf16/f16/f32 (d); the struct describes entry 0. */
struct ModelWeight {
  bool quantized = false;
  QuantMatrix q{};
  DenseMatrix d{};
  int64_t experts = 1;
  int64_t n() const { return quantized ? q.n : d.n; }
  int64_t k() const { return quantized ? q.k : d.k; }
};

/** Matrix e of a dense stack [E, N, K]. */
inline DenseMatrix dense_entry(const DenseMatrix& w, int64_t e) {
  DenseMatrix m = w;
  m.w += (size_t)e * (size_t)w.n * (size_t)w.k * (size_t)mlxk_scale_bytes(w.dtype);
  return m;
}

/** out[m, n] = x[m, k]·Wᵀ (+ bias[n]); w.experts == 1. planes: 1 = int8 activations, 2 = 16-bit. */
void model_linear(const float* x, int64_t m, const ModelWeight& w, const float* bias, float* out, int planes);

/** out[p, :] = x[row_index[p], :]·W[expert_index[p]]ᵀ for each pair p (MoE, per-head products). */
void model_gathered(const float* x, int64_t rows, const int32_t* row_index, const int32_t* expert_index, int64_t pairs,
                    const ModelWeight& w, float* out, int planes);

/** out[t, h, :] = x[t, x_heads == 1 ? 0 : h, :]·W[h] (no transpose) for W [heads, n, k]: x [T, x_heads, n] → [T, heads, k]. */
void model_matmul_untransposed(const float* x, int64_t tokens, int64_t x_heads, const ModelWeight& w, float* out);

/** Rows ids[i] of the table [n, k], dequantized: out [count, k]. */
void model_embedding(const ModelWeight& w, const int32_t* ids, int64_t count, float* out);

/** out must not overlap x (or weight). */
void model_rms_norm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps, float* out);

/** x [T, heads, dims] contiguous, row t at positions[t]; dims = 2·len(inv_freq). */
void model_rope(const float* x, int64_t tokens, int64_t heads, int64_t dims, const int32_t* positions, const float* inv_freq,
                float scale, bool interleaved, float* out);

/** Keys or values [S, heads, dims] with row strides (last axis contiguous), e.g. a slice of a cache. */
struct StridedRows {
  const float* p;
  int64_t stride_s, stride_h;
};

/** One sequence of a ragged attention call: its `tokens` queries over its own `keys` keys and values. */
struct AttentionSegment {
  StridedRows k, v;
  int64_t tokens, keys;
};

/**
 * Causal GQA attention over several sequences in one pool job: q [Σ tokens, hq, d] contiguous,
 * segment after segment → out [Σ tokens, hq, dv]; query t of a segment sees its keys 0..keys−tokens+t.
 */
void model_attention(const float* q, int64_t hq, int64_t d, const AttentionSegment* segs, int64_t count, int64_t hkv,
                     int64_t dv, float scale, float* out);

void model_swiglu(const float* gate, const float* up, int64_t n, float* out);
/** out[i] = silu(gate[i])·up[i] on the calling thread (model_swiglu's element, for fused blocks). */
void swiglu_span(const float* gate, const float* up, int64_t n, float* out);
void model_add(const float* a, const float* b, int64_t n, float* out);

struct NoAuxOptions {
  int64_t top_k, n_group, topk_group;
  bool norm_topk_prob;
  double routed_scaling_factor;
};

/** DeepSeek-V3 noaux_tc over logits [T, E] (see lib/backend/ops.ts): indices/weights [T, top_k]. */
void model_route_noaux_tc(const float* logits, int64_t tokens, int64_t experts, const float* bias, const NoAuxOptions& o,
                          int32_t* indices, float* weights);

/** softmax top-k over logits [T, E], renormalized when `norm`. */
void model_route_softmax_topk(const float* logits, int64_t tokens, int64_t experts, int64_t top_k, bool norm,
                              int32_t* indices, float* weights);

/** A SwiGLU MLP's three weights: stacks [E, inter, hidden] ×2 and [E, hidden, inter] for experts, E = 1 for a plain MLP. */
struct MlpWeights {
  const ModelWeight *gate, *up, *down;
};

/**
 * Σ_j weights[t, j] · down(silu(gate(x_t)) · up(x_t)) over experts indices[t, j], plus, when `shared`
 * is set, the shared experts' down(silu(gate(x_t)) · up(x_t)) added after; experts == nullptr (k
 * ignored): the `shared` MLP alone. x and out [T, hidden] (moe_block.cc). The same floats as the
 * routed experts through model_gathered and model_swiglu, the shared MLP through model_linear and
 * model_swiglu, then model_add.
 */
void model_moe(const float* x, int64_t tokens, const int32_t* indices, const float* weights, int64_t k, const MlpWeights* experts,
               const MlpWeights* shared, float* out, int planes);

/** A SwiGLU MLP in model_moe's two pool jobs: the floats of model_linear, model_swiglu, model_linear. */
inline void model_mlp(const float* x, int64_t tokens, const MlpWeights& mlp, float* out, int planes) {
  model_moe(x, tokens, nullptr, nullptr, 0, nullptr, &mlp, out, planes);
}

}  // namespace mlxk

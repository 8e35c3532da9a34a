// A whole DeepSeek-V3 / Kimi-K2 decoder layer over a batch of sequences in one call: the same
// model_ops.h calls, in the same order and on the same values, as lib/models/deepseek_v3.ts's
// composed layer (absorbed MLA over the latent cache for sequences stepping one token, expanded MLA
// for prompts, then the dense MLP or noaux_tc routing + experts + shared experts), so the two give
// identical floats. What it saves is everything between the kernels: one N-API crossing per step
// instead of ~35 per layer, no per-token allocation (a decode batch's scratch grows once), no JS
// views, concats or copies.
#pragma once
#include <cstdint>

#include "model_ops.h"

namespace mlxk {

/** One layer's weights and shapes. Pointers are borrowed for the call; optional ones are null. */
struct MlaLayerSpec {
  int64_t hidden = 0, heads = 0, nope = 0, rope = 0, rank = 0, v_dim = 0;
  float eps = 0, mla_eps = 0, scale = 0;
  const float* inv_freq = nullptr;  // rope/2 values
  float rope_scale = 1;
  bool interleaved = true;

  const float *input_norm = nullptr, *q_a_norm = nullptr, *kv_a_norm = nullptr, *post_norm = nullptr;
  const ModelWeight *q = nullptr, *q_a = nullptr, *q_b = nullptr;  // q, or q_a → q_a_norm → q_b
  const ModelWeight *kv_a = nullptr, *embed_q = nullptr, *unembed_out = nullptr, *o_proj = nullptr;

  // FFN: a dense SwiGLU MLP (mlp_*), or routed experts (router …) plus optional shared experts (mlp_*).
  const ModelWeight *mlp_gate = nullptr, *mlp_up = nullptr, *mlp_down = nullptr;
  const ModelWeight* router = nullptr;
  const float* router_bias = nullptr;
  NoAuxOptions route{};
  const ModelWeight *experts_gate = nullptr, *experts_up = nullptr, *experts_down = nullptr;
};

/**
 * x [N, hidden] → out [N, hidden]: `count` sequences, sequence g's tokens[g] rows (after those of the
 * sequences before it) at positions offsets[g]…; its latent cache rows (kv_a_norm(latent) then the roped
 * key, rank + rope floats each) are written at caches[g] + position·(rank + rope), and the attention reads
 * its rows 0…offsets[g] + tokens[g] − 1. x and out may alias.
 */
void mla_layer(const MlaLayerSpec& s, const float* x, int64_t count, const int32_t* tokens, const int32_t* offsets, float* const* caches,
               float* out, int planes);

}  // namespace mlxk

// A whole DeepSeek-V3 / Kimi-K2 decoder layer for a step in which every sequence decodes one
// token, in one call: the same model_ops.h calls, in the same order and on the same values, as
// lib/models/deepseek_v3.ts's composed layer (absorbed MLA over the latent cache, then the dense
// MLP or noaux_tc routing + experts + shared experts), so the two give identical floats. What it
// saves is everything between the kernels: one N-API crossing per layer instead of ~35, no
// per-token allocation (scratch grows once), no JS views, concats or copies.
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
 * x [B, hidden] → out [B, hidden]; sequence b's token sits at positions[b] and its latent cache row
 * (kv_a_norm(latent) then the roped key, rank + rope floats) is written at caches[b] + positions[b]·(rank
 * + rope), whose rows 0…positions[b] the attention then reads. x and out may not alias.
 */
void mla_decode_layer(const MlaLayerSpec& s, const float* x, int64_t batch, const int32_t* positions, float* const* caches,
                      float* out, int planes);

}  // namespace mlxk

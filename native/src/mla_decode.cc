#include "mla_decode.h"

#include <cstring>
#include <vector>

namespace mlxk {
namespace {

/** The layer's intermediates, grown to the largest batch seen and then reused: no allocation per token. */
struct Scratch {
  std::vector<float> h, qa, qa_n, q, q_nope, q_pe, q_pe_r, kv, latent_in, latent, k_pe_in, k_pe, q_latent, q_full, attn, heads_out,
      proj, x2, h2, gate, up, ffn, shared, logits, weights;
  std::vector<int32_t> pair_row, pair_head, indices;
  std::vector<AttentionSegment> segs;
};
thread_local Scratch tls;

float* sized(std::vector<float>& v, int64_t n) {
  if ((int64_t)v.size() < n) v.resize((size_t)n);
  return v.data();
}

/** Columns [c0, c0 + width) of rows [rows, stride] as a contiguous [rows, width] (what the composed path's slices copy). */
void columns(const float* src, int64_t rows, int64_t stride, int64_t c0, int64_t width, float* dst) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * width, src + r * stride + c0, (size_t)width * sizeof(float));
}

/** silu(gate(x)) · up(x) → down, as lib/models/model.ts swigluMlp. */
void swiglu_mlp(Scratch& b, const float* x, int64_t batch, const ModelWeight& gate, const ModelWeight& up, const ModelWeight& down,
                float* out, int planes) {
  const int64_t inter = gate.n();
  float* g = sized(b.gate, batch * inter);
  float* u = sized(b.up, batch * inter);
  model_linear(x, batch, gate, nullptr, g, planes);
  model_linear(x, batch, up, nullptr, u, planes);
  model_swiglu(g, u, batch * inter, g);
  model_linear(g, batch, down, nullptr, out, planes);
}

}  // namespace

void mla_decode_layer(const MlaLayerSpec& s, const float* x, int64_t batch, const int32_t* positions, float* const* caches,
                      float* out, int planes) {
  Scratch& b = tls;
  const int64_t B = batch, H = s.heads, D = s.hidden, qk = s.nope + s.rope, row = s.rank + s.rope;

  // ---- attention (deepseek_v3.ts attendBatch, every segment stepping one token) ----
  float* h = sized(b.h, B * D);
  model_rms_norm(x, B, D, s.input_norm, s.eps, h);
  float* q = sized(b.q, B * H * qk);
  if (s.q) {
    model_linear(h, B, *s.q, nullptr, q, planes);
  } else {
    const int64_t qr = s.q_a->n();
    float* qa = sized(b.qa, B * qr);
    float* qa_n = sized(b.qa_n, B * qr);
    model_linear(h, B, *s.q_a, nullptr, qa, planes);
    model_rms_norm(qa, B, qr, s.q_a_norm, s.mla_eps, qa_n);
    model_linear(qa_n, B, *s.q_b, nullptr, q, planes);
  }
  float* q_nope = sized(b.q_nope, B * H * s.nope);
  float* q_pe = sized(b.q_pe, B * H * s.rope);
  float* q_pe_r = sized(b.q_pe_r, B * H * s.rope);
  columns(q, B * H, qk, 0, s.nope, q_nope);
  columns(q, B * H, qk, s.nope, s.rope, q_pe);
  model_rope(q_pe, B, H, s.rope, positions, s.inv_freq, s.rope_scale, s.interleaved, q_pe_r);

  float* kv = sized(b.kv, B * row);
  model_linear(h, B, *s.kv_a, nullptr, kv, planes);
  float* latent_in = sized(b.latent_in, B * s.rank);
  float* latent = sized(b.latent, B * s.rank);
  float* k_pe_in = sized(b.k_pe_in, B * s.rope);
  float* k_pe = sized(b.k_pe, B * s.rope);
  columns(kv, B, row, 0, s.rank, latent_in);
  columns(kv, B, row, s.rank, s.rope, k_pe_in);
  model_rms_norm(latent_in, B, s.rank, s.kv_a_norm, s.mla_eps, latent);
  model_rope(k_pe_in, B, 1, s.rope, positions, s.inv_freq, s.rope_scale, s.interleaved, k_pe);
  for (int64_t t = 0; t < B; ++t) {
    float* dst = caches[t] + (int64_t)positions[t] * row;
    std::memcpy(dst, latent + t * s.rank, (size_t)s.rank * sizeof(float));
    std::memcpy(dst + s.rank, k_pe + t * s.rope, (size_t)s.rope * sizeof(float));
  }

  // Absorbed MLA: q_nope through embed_q per head, attention over the latent rows, back out through unembed_out.
  b.pair_row.resize((size_t)(B * H));
  b.pair_head.resize((size_t)(B * H));
  for (int64_t p = 0; p < B * H; ++p) {
    b.pair_row[(size_t)p] = (int32_t)p;
    b.pair_head[(size_t)p] = (int32_t)(p % H);
  }
  float* q_latent = sized(b.q_latent, B * H * s.rank);
  model_gathered(q_nope, B * H, b.pair_row.data(), b.pair_head.data(), B * H, *s.embed_q, q_latent, planes);
  float* q_full = sized(b.q_full, B * H * row);
  for (int64_t p = 0; p < B * H; ++p) {
    std::memcpy(q_full + p * row, q_latent + p * s.rank, (size_t)s.rank * sizeof(float));
    std::memcpy(q_full + p * row + s.rank, q_pe_r + p * s.rope, (size_t)s.rope * sizeof(float));
  }
  b.segs.resize((size_t)B);
  for (int64_t t = 0; t < B; ++t) {
    const StridedRows rows{caches[t], row, 0};
    b.segs[(size_t)t] = AttentionSegment{rows, rows, 1, (int64_t)positions[t] + 1};
  }
  float* attn = sized(b.attn, B * H * s.rank);
  model_attention(q_full, H, row, b.segs.data(), B, 1, s.rank, s.scale, attn);
  float* heads_out = sized(b.heads_out, B * H * s.v_dim);
  model_gathered(attn, B * H, b.pair_row.data(), b.pair_head.data(), B * H, *s.unembed_out, heads_out, planes);
  float* proj = sized(b.proj, B * D);
  model_linear(heads_out, B, *s.o_proj, nullptr, proj, planes);
  float* x2 = sized(b.x2, B * D);
  model_add(x, proj, B * D, x2);

  // ---- feed-forward ----
  float* h2 = sized(b.h2, B * D);
  model_rms_norm(x2, B, D, s.post_norm, s.eps, h2);
  float* ffn = sized(b.ffn, B * D);
  if (!s.router) {
    swiglu_mlp(b, h2, B, *s.mlp_gate, *s.mlp_up, *s.mlp_down, ffn, planes);
  } else {
    const int64_t E = s.router->n(), k = s.route.top_k;
    float* logits = sized(b.logits, B * E);
    model_linear(h2, B, *s.router, nullptr, logits, planes);
    b.indices.resize((size_t)(B * k));
    float* weights = sized(b.weights, B * k);
    model_route_noaux_tc(logits, B, E, s.router_bias, s.route, b.indices.data(), weights);
    model_moe(h2, B, b.indices.data(), weights, k, *s.experts_gate, *s.experts_up, *s.experts_down, ffn, planes);
    if (s.mlp_gate) {
      float* shared = sized(b.shared, B * D);
      swiglu_mlp(b, h2, B, *s.mlp_gate, *s.mlp_up, *s.mlp_down, shared, planes);
      model_add(ffn, shared, B * D, ffn);
    }
  }
  model_add(x2, ffn, B * D, out);
}

}  // namespace mlxk

#include "mla_layers.h"

#include <cstring>
#include <vector>

namespace mlxk {
namespace {

/** The layer's intermediates, grown to the largest call seen (a prompt chunk's, or a decode batch's) and reused: no allocation per token. */
struct Scratch {
  Floats h, qa, qa_n, q, q_nope, q_pe, q_pe_r, kv, latent_in, latent, k_pe_in, k_pe, q_latent, q_full, attn, heads_out,
      proj, x2, h2, ffn, logits, weights, step_nope, step_pe, step_out;
  std::vector<int32_t> positions, pair_row, pair_head, indices;
  std::vector<int64_t> start, stepping;
  std::vector<AttentionSegment> segs;
};
thread_local Scratch tls;

/** Columns [c0, c0 + width) of rows [rows, stride] as a contiguous [rows, width] (what the composed path's slices copy). */
void columns(const float* src, int64_t rows, int64_t stride, int64_t c0, int64_t width, float* dst) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * width, src + r * stride + c0, (size_t)width * sizeof(float));
}

/**
 * Absorbed MLA for the segments stepping one token, all in one ragged attention call: q_nope through
 * embed_q per head, attention over the latent rows, back out through unembed_out into their rows of
 * heads_out. Their rows are gathered first when other segments hold prompts, as the composed path
 * concatenates them.
 */
void decode_rows(const MlaLayerSpec& s, Scratch& b, int64_t count, const int32_t* tokens, const int32_t* offsets, float* const* caches,
                 const float* q_nope, const float* q_pe_r, float* heads_out, int planes) {
  const int64_t H = s.heads, row = s.rank + s.rope;
  b.stepping.clear();
  for (int64_t g = 0; g < count; ++g)
    if (tokens[g] == 1) b.stepping.push_back(g);
  const int64_t n = (int64_t)b.stepping.size();
  if (n == 0) return;
  const bool all = n == count;
  const float* qn = q_nope;
  const float* qp = q_pe_r;
  if (!all) {
    float* a = sized(b.step_nope, n * H * s.nope);
    float* c = sized(b.step_pe, n * H * s.rope);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = b.start[(size_t)b.stepping[(size_t)i]];
      std::memcpy(a + i * H * s.nope, q_nope + r * H * s.nope, (size_t)(H * s.nope) * sizeof(float));
      std::memcpy(c + i * H * s.rope, q_pe_r + r * H * s.rope, (size_t)(H * s.rope) * sizeof(float));
    }
    qn = a;
    qp = c;
  }
  b.pair_row.resize((size_t)(n * H));
  b.pair_head.resize((size_t)(n * H));
  for (int64_t p = 0; p < n * H; ++p) {
    b.pair_row[(size_t)p] = (int32_t)p;
    b.pair_head[(size_t)p] = (int32_t)(p % H);
  }
  float* q_latent = sized(b.q_latent, n * H * s.rank);
  model_gathered(qn, n * H, b.pair_row.data(), b.pair_head.data(), n * H, *s.embed_q, q_latent, planes);
  float* q_full = sized(b.q_full, n * H * row);
  for (int64_t p = 0; p < n * H; ++p) {
    std::memcpy(q_full + p * row, q_latent + p * s.rank, (size_t)s.rank * sizeof(float));
    std::memcpy(q_full + p * row + s.rank, qp + p * s.rope, (size_t)s.rope * sizeof(float));
  }
  b.segs.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t g = b.stepping[(size_t)i];
    const StridedRows rows{caches[g], row, 0};
    b.segs[(size_t)i] = AttentionSegment{rows, rows, 1, (int64_t)offsets[g] + 1};
  }
  float* attn = sized(b.attn, n * H * s.rank);
  model_attention(q_full, H, row, b.segs.data(), n, 1, s.rank, s.scale, attn);
  float* o = all ? heads_out : sized(b.step_out, n * H * s.v_dim);
  model_gathered(attn, n * H, b.pair_row.data(), b.pair_head.data(), n * H, *s.unembed_out, o, planes);
  if (all) return;
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(heads_out + b.start[(size_t)b.stepping[(size_t)i]] * H * s.v_dim, o + i * H * s.v_dim, (size_t)(H * s.v_dim) * sizeof(float));
}

/**
 * Expanded MLA for one segment of T > 1 tokens at offset: its cache's S = offset + T latent rows through
 * embed_q (keys, with the shared roped key on every head) and unembed_out (values), then causal
 * attention of its T queries. Buffers sized by the context live for this call only.
 */
void prefill_rows(const MlaLayerSpec& s, int64_t first, int64_t T, int64_t offset, const float* cache, const float* q_nope,
                  const float* q_pe_r, float* heads_out, int planes) {
  const int64_t H = s.heads, qk = s.nope + s.rope, row = s.rank + s.rope, S = offset + T;
  Floats latent_all, k_nope, v, keys, q;
  sized(latent_all, S * s.rank);
  sized(k_nope, S * H * s.nope);
  sized(v, S * H * s.v_dim);
  sized(keys, S * H * qk);
  sized(q, T * H * qk);
  std::vector<int32_t> pair_row((size_t)(S * H)), pair_head((size_t)(S * H));
  columns(cache, S, row, 0, s.rank, latent_all.p.get());
  model_matmul_untransposed(latent_all.p.get(), S, 1, *s.embed_q, k_nope.p.get());
  for (int64_t p = 0; p < S * H; ++p) {
    pair_row[(size_t)p] = (int32_t)(p / H);
    pair_head[(size_t)p] = (int32_t)(p % H);
  }
  model_gathered(latent_all.p.get(), S, pair_row.data(), pair_head.data(), S * H, *s.unembed_out, v.p.get(), planes);
  for (int64_t p = 0; p < S * H; ++p) {
    std::memcpy(keys.p.get() + p * qk, k_nope.p.get() + p * s.nope, (size_t)s.nope * sizeof(float));
    std::memcpy(keys.p.get() + p * qk + s.nope, cache + (p / H) * row + s.rank, (size_t)s.rope * sizeof(float));
  }
  k_nope.p.reset();  // the keys hold it now; the attention needs only keys and values
  for (int64_t p = 0; p < T * H; ++p) {
    std::memcpy(q.p.get() + p * qk, q_nope + (first * H + p) * s.nope, (size_t)s.nope * sizeof(float));
    std::memcpy(q.p.get() + p * qk + s.nope, q_pe_r + (first * H + p) * s.rope, (size_t)s.rope * sizeof(float));
  }
  const AttentionSegment seg{StridedRows{keys.p.get(), H * qk, qk}, StridedRows{v.p.get(), H * s.v_dim, s.v_dim}, T, S};
  model_attention(q.p.get(), H, qk, &seg, 1, H, s.v_dim, s.scale, heads_out + first * H * s.v_dim);
}

}  // namespace

void mla_layer(const MlaLayerSpec& s, const float* x, int64_t count, const int32_t* tokens, const int32_t* offsets,
                      float* const* caches, float* out, int planes) {
  Scratch& b = tls;
  const int64_t H = s.heads, D = s.hidden, qk = s.nope + s.rope, row = s.rank + s.rope;
  b.start.resize((size_t)count);
  int64_t N = 0;
  for (int64_t g = 0; g < count; ++g) b.start[(size_t)g] = N, N += tokens[g];
  b.positions.resize((size_t)N);
  for (int64_t g = 0; g < count; ++g)
    for (int64_t t = 0; t < tokens[g]; ++t) b.positions[(size_t)(b.start[(size_t)g] + t)] = offsets[g] + (int32_t)t;
  const int32_t* positions = b.positions.data();

  // ---- attention (deepseek_v3.ts attendBatch) ----
  float* h = sized(b.h, N * D);
  model_rms_norm(x, N, D, s.input_norm, s.eps, h);
  float* q = sized(b.q, N * H * qk);
  if (s.q) {
    model_linear(h, N, *s.q, nullptr, q, planes);
  } else {
    const int64_t qr = s.q_a->n();
    float* qa = sized(b.qa, N * qr);
    float* qa_n = sized(b.qa_n, N * qr);
    model_linear(h, N, *s.q_a, nullptr, qa, planes);
    model_rms_norm(qa, N, qr, s.q_a_norm, s.mla_eps, qa_n);
    model_linear(qa_n, N, *s.q_b, nullptr, q, planes);
  }
  float* q_nope = sized(b.q_nope, N * H * s.nope);
  float* q_pe = sized(b.q_pe, N * H * s.rope);
  float* q_pe_r = sized(b.q_pe_r, N * H * s.rope);
  columns(q, N * H, qk, 0, s.nope, q_nope);
  columns(q, N * H, qk, s.nope, s.rope, q_pe);
  model_rope(q_pe, N, H, s.rope, positions, s.inv_freq, s.rope_scale, s.interleaved, q_pe_r);

  float* kv = sized(b.kv, N * row);
  model_linear(h, N, *s.kv_a, nullptr, kv, planes);
  float* latent_in = sized(b.latent_in, N * s.rank);
  float* latent = sized(b.latent, N * s.rank);
  float* k_pe_in = sized(b.k_pe_in, N * s.rope);
  float* k_pe = sized(b.k_pe, N * s.rope);
  columns(kv, N, row, 0, s.rank, latent_in);
  columns(kv, N, row, s.rank, s.rope, k_pe_in);
  model_rms_norm(latent_in, N, s.rank, s.kv_a_norm, s.mla_eps, latent);
  model_rope(k_pe_in, N, 1, s.rope, positions, s.inv_freq, s.rope_scale, s.interleaved, k_pe);
  for (int64_t g = 0; g < count; ++g)
    for (int64_t i = b.start[(size_t)g]; i < b.start[(size_t)g] + tokens[g]; ++i) {
      float* dst = caches[g] + (int64_t)positions[i] * row;
      std::memcpy(dst, latent + i * s.rank, (size_t)s.rank * sizeof(float));
      std::memcpy(dst + s.rank, k_pe + i * s.rope, (size_t)s.rope * sizeof(float));
    }

  float* heads_out = sized(b.heads_out, N * H * s.v_dim);  // [N, H, v_dim], segment after segment
  decode_rows(s, b, count, tokens, offsets, caches, q_nope, q_pe_r, heads_out, planes);
  for (int64_t g = 0; g < count; ++g)
    if (tokens[g] > 1) prefill_rows(s, b.start[(size_t)g], tokens[g], offsets[g], caches[g], q_nope, q_pe_r, heads_out, planes);

  float* proj = sized(b.proj, N * D);
  model_linear(heads_out, N, *s.o_proj, nullptr, proj, planes);
  float* x2 = sized(b.x2, N * D);
  model_add(x, proj, N * D, x2);

  // ---- feed-forward ----
  float* h2 = sized(b.h2, N * D);
  model_rms_norm(x2, N, D, s.post_norm, s.eps, h2);
  float* ffn = sized(b.ffn, N * D);
  if (!s.router) {
    const MlpWeights mlp{s.mlp_gate, s.mlp_up, s.mlp_down};
    model_mlp(h2, N, mlp, ffn, planes);
  } else {
    const int64_t E = s.router->n(), k = s.route.top_k;
    float* logits = sized(b.logits, N * E);
    model_linear(h2, N, *s.router, nullptr, logits, planes);
    b.indices.resize((size_t)(N * k));
    float* weights = sized(b.weights, N * k);
    model_route_noaux_tc(logits, N, E, s.router_bias, s.route, b.indices.data(), weights);
    const MlpWeights routed{s.experts_gate, s.experts_up, s.experts_down}, shared{s.mlp_gate, s.mlp_up, s.mlp_down};
    model_moe(h2, N, b.indices.data(), weights, k, &routed, s.mlp_gate ? &shared : nullptr, ffn, planes);
  }
  model_add(x2, ffn, N * D, out);
}


}  // namespace mlxk

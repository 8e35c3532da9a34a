#include "model_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "dispatch.h"
#include "simd_clones.h"


namespace mlxk {
namespace {

template <int B>
void dequant_row_bits(const QuantMatrix& w, int64_t r, float* out) {
  const uint8_t* row = w.w + (size_t)r * row_bytes(w);
  const uint8_t* srow = w.scales + (size_t)r * scale_row_bytes(w);
  const uint8_t* brow = w.biases + (size_t)r * scale_row_bytes(w);
  const int64_t packs_per_group = w.group_size / MLXK_PACK_VALUES;
  for (int64_t g = 0; g < w.k / w.group_size; ++g) {
    const float s = mlxk_load_scale(srow, (uint64_t)g, w.scale_type);
    const float b = mlxk_load_scale(brow, (uint64_t)g, w.scale_type);
    for (int64_t j = g * packs_per_group; j < (g + 1) * packs_per_group; ++j) {
      const uint64_t pack = mlxk_load_pack<B>(row, (uint64_t)j);
      for (int i = 0; i < MLXK_PACK_VALUES; ++i) out[j * MLXK_PACK_VALUES + i] = mlxk_dequant(mlxk_pack_value<B>(pack, i), s, b);
    }
  }
}

/** Row r of a weight (of one expert) as float32 values. */
void weight_row(const ModelWeight& w, const QuantMatrix& q, const DenseMatrix& d, int64_t r, float* out) {
  if (!w.quantized) {
    const uint8_t* p = d.w + (size_t)r * (size_t)d.k * (size_t)mlxk_scale_bytes(d.dtype);
    if (d.dtype == MLXK_SCALE_F32) {
      std::memcpy(out, p, (size_t)d.k * 4);
    } else {
      for (int64_t i = 0; i < d.k; ++i) out[i] = mlxk_load_scale(p, (uint64_t)i, d.dtype);
    }
    return;
  }
  with_bits(q.bits, [&](auto b) { dequant_row_bits<b.value>(q, r, out); });
}

/** Pairs grouped by expert (counting sort: each expert's pairs stay in input order). */
struct Grouping {
  std::vector<int64_t> start;  // experts + 1
  std::vector<int64_t> order;  // pair indices, grouped
  Grouping(const int32_t* expert_index, int64_t pairs, int64_t experts) : start((size_t)experts + 1, 0), order((size_t)pairs) {
    for (int64_t p = 0; p < pairs; ++p) ++start[(size_t)expert_index[p] + 1];
    for (int64_t e = 0; e < experts; ++e) start[(size_t)e + 1] += start[(size_t)e];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t p = 0; p < pairs; ++p) order[(size_t)fill[(size_t)expert_index[p]]++] = p;
  }
};

void dense_gathered(const float* x, int64_t k, const int32_t* row_index, const int32_t* expert_index, int64_t pairs,
                    const DenseMatrix& w, int64_t experts, float* out) {
  const Grouping g(expert_index, pairs, experts);
  std::vector<const float*> xs((size_t)pairs);
  std::vector<float*> outs((size_t)pairs);
  for (int64_t i = 0; i < pairs; ++i) {
    const int64_t p = g.order[(size_t)i];
    xs[(size_t)i] = x + (int64_t)row_index[p] * k;
    outs[(size_t)i] = out + p * w.n;
  }
  int64_t used = 0;
  for (int64_t e = 0; e < experts; ++e) used += g.start[(size_t)e + 1] > g.start[(size_t)e];
  const int64_t target = std::max<int64_t>(1, (int64_t)thread_count() * 8 / std::max<int64_t>(1, used));
  struct Job {
    int64_t expert;
    RowRange rows;
  };
  std::vector<Job> jobs;
  std::vector<RowRange> ranges;
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t count = g.start[(size_t)e + 1] - g.start[(size_t)e];
    if (count == 0) continue;
    ranges.clear();
    product_row_ranges(false, count, w.n, target, ranges);
    for (const RowRange& r : ranges) jobs.push_back(Job{e, r});
  }
  parallel_for((int64_t)jobs.size(), [&](int64_t task, int) {
    const Job& j = jobs[(size_t)task];
    const int64_t first = g.start[(size_t)j.expert], count = g.start[(size_t)j.expert + 1] - first;
    dense_product_rows(dense_entry(w, j.expert), &xs[(size_t)first], count, &outs[(size_t)first], j.rows.n0, j.rows.n1);
  }, pairs * w.n * w.k);
}

// out[t] = Σ_j x[t][j]·w[j] over the n rows of a float matrix w [n, k], j in order (the sums are
// those of the axpy over every token this replaced, bit for bit). Token by token, so an output row
// stays in L1 while w (one head's, in L2) streams past; an axpy per weight row over all tokens
// wrote rows heads·k floats apart, 4 KiB on the 3 B model, which alias in L1 and L2: 18 % of a
// 512-token prompt went there at ~2 G multiply-adds/s.
MLXK_SIMD_CLONES
void rows_times_matrix(const float* x, int64_t x_step, int64_t rows, const float* w, int64_t n, int64_t k, float* out, int64_t out_step) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xt = x + t * x_step;
    float* __restrict o = out + t * out_step;
    for (int64_t i = 0; i < k; ++i) o[i] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float a = xt[j];
      if (a == 0.0f) continue;
      const float* __restrict wr = w + j * k;
      for (int64_t i = 0; i < k; ++i) o[i] += a * wr[i];
    }
  }
}

}  // namespace

void model_linear(const float* x, int64_t m, const ModelWeight& w, const float* bias, float* out, int planes) {
  if (w.quantized) qmatmul(x, m, w.q, out, planes);
  else dense_matmul(x, m, w.d, out);
  if (!bias) return;
  const int64_t n = w.n();
  for_chunks(m, std::max<int64_t>(1, kMinElementsPerTask / n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t i = 0; i < n; ++i) out[r * n + i] += bias[i];
  });
}

void model_gathered(const float* x, int64_t rows, const int32_t* row_index, const int32_t* expert_index, int64_t pairs,
                    const ModelWeight& w, float* out, int planes) {
  if (w.quantized) moe_qmatmul(x, rows, row_index, expert_index, pairs, w.q, w.experts, out, planes);
  else dense_gathered(x, w.d.k, row_index, expert_index, pairs, w.d, w.experts, out);
}

void model_matmul_untransposed(const float* x, int64_t tokens, int64_t x_heads, const ModelWeight& w, float* out) {
  const int64_t heads = w.experts, n = w.n(), k = w.k();
  parallel_for(heads, [&](int64_t h, int thread) {
    float* wh = static_cast<float*>(thread_scratch(thread, (size_t)(n * k) * sizeof(float)));
    const QuantMatrix q = w.quantized ? stack_entry(w.q, h) : w.q;
    const DenseMatrix d = w.quantized ? w.d : dense_entry(w.d, h);
    for (int64_t o = 0; o < n; ++o) weight_row(w, q, d, o, wh + o * k);
    rows_times_matrix(x + (x_heads == 1 ? 0 : h) * n, x_heads * n, tokens, wh, n, k, out + h * k, heads * k);
  });
}

void model_embedding(const ModelWeight& w, const int32_t* ids, int64_t count, float* out) {
  const int64_t k = w.k();
  for_chunks(count, std::max<int64_t>(1, kMinElementsPerTask / k), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) weight_row(w, w.q, w.d, ids[i], out + i * k);
  });
}

void model_rms_norm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps, float* out) {
  for_chunks(rows, std::max<int64_t>(1, kMinElementsPerTask / dim), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      // Eight partial sums (in double, as before): one chain of dependent adds took ~4 cycles a
      // value, 14 µs for eight tiny-kimi rows; independent lanes vectorize.
      double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= dim; i += 8)
        for (int j = 0; j < 8; ++j) part[j] += (double)xr[i + j] * xr[i + j];
      for (; i < dim; ++i) part[0] += (double)xr[i] * xr[i];
      const double ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      const float inv = (float)(1.0 / std::sqrt(ss / (double)dim + (double)eps));
      // Locals, the pointers restricted (out never overlaps x or weight): through the lambda's
      // captured references (and -fno-strict-aliasing) every store could change them and the
      // length, so the loop reloaded them per value and did not vectorize.
      const float* __restrict g = weight;
      float* __restrict o = out + r * dim;
      const int64_t n = dim;
      for (int64_t j = 0; j < n; ++j) o[j] = xr[j] * inv * g[j];
    }
  });
}

void model_rope(const float* x, int64_t tokens, int64_t heads, int64_t dims, const int32_t* positions, const float* inv_freq,
                float scale, bool interleaved, float* out) {
  const int64_t half = dims / 2;
  for_chunks(tokens, std::max<int64_t>(1, kMinElementsPerTask / (heads * dims)), [&](int64_t t0, int64_t t1) {
    std::vector<float> cs((size_t)dims);
    for (int64_t t = t0; t < t1; ++t) {
      // The angle is rounded to float32 as transformers and MLX compute it (position · inv_freq in float32).
      const float pos = (float)positions[t];
      for (int64_t i = 0; i < half; ++i) {
        const float a = pos * inv_freq[i];
        cs[(size_t)i] = (float)std::cos((double)a) * scale;
        cs[(size_t)(half + i)] = (float)std::sin((double)a) * scale;
      }
      for (int64_t h = 0; h < heads; ++h) {
        const float* xr = x + (t * heads + h) * dims;
        float* o = out + (t * heads + h) * dims;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
          const float c = cs[(size_t)i], s = cs[(size_t)(half + i)];
          const float x1 = xr[a], x2 = xr[b];
          o[a] = x1 * c - x2 * s;
          o[b] = x2 * c + x1 * s;
        }
      }
    }
  });
}

void model_attention(const float* q, int64_t hq, int64_t d, const AttentionSegment* segs, int64_t count, int64_t hkv,
                     int64_t dv, float scale, float* out) {
  const int64_t group = hq / hkv;
  // Query heads of one key head share each key row read: as many per block as fit the kernel.
  int64_t per = std::min<int64_t>(group, kAttendMaxHeads), blocks = (group + per - 1) / per;
  // Work units, kept between calls (no allocation once grown; the pool's threads read the caller's
  // vectors through these references, a thread_local named inside a task being the worker's own):
  // one per query row, or per key range of it when the blocks would leave threads idle.
  struct Unit {
    int32_t seg, row, range, ranges;
    int64_t slot;  // its first partial slot (key ranges of a split row), −1 when not split
  };
  thread_local std::vector<Unit> units_kept;
  thread_local std::vector<float> parts_kept;
  std::vector<Unit>& units = units_kept;
  std::vector<float>& parts = parts_kept;
  units.clear();
  int64_t work = 0, rows = 0;  // multiply-adds: every visible key of every query row, scores and values
  for (int64_t s = 0; s < count; ++s) {
    rows += segs[s].tokens;
    for (int64_t t = 0; t < segs[s].tokens; ++t) work += (segs[s].keys - segs[s].tokens + t + 1) * hq * (d + dv);
  }
  // When the blocks would leave threads idle, a long cache is split into key ranges: every thread
  // reads a share of its rows from memory once, where splitting the heads made every thread stream
  // all of them (16K keys of an MQA model: each task 2× the bytes at 2 threads, 8× at 16); the
  // ranges' outputs are merged from their softmax statistics (kernels.h attend_merge). A range keeps
  // at least kMinRangeKeys keys, so its merge stays a small part of its work. Only caches too short
  // to split still have their heads split (the head grouping does not change a float).
  constexpr int64_t kMinRangeKeys = 512;
  const int64_t threads = thread_count();
  const bool pooled = worth_pooling(work);
  const int64_t want = pooled && rows * hkv * blocks < threads ? (threads + rows * hkv * blocks - 1) / (rows * hkv * blocks) : 1;
  for (int64_t s = 0; s < count; ++s)
    for (int64_t t = 0; t < segs[s].tokens; ++t) {
      const int64_t visible = segs[s].keys - segs[s].tokens + t + 1;
      const int32_t ranges = (int32_t)std::max<int64_t>(1, std::min(want, visible / kMinRangeKeys));
      for (int32_t i = 0; i < ranges; ++i) units.push_back(Unit{(int32_t)s, (int32_t)t, i, ranges, -1});
    }
  while (pooled && per > 1 && (int64_t)units.size() * hkv * ((group + per - 1) / per) < threads) per = (per + 1) / 2;
  blocks = (group + per - 1) / per;
  int64_t slots = 0;
  for (Unit& u : units) {
    if (u.ranges == 1) continue;
    u.slot = slots;
    slots += hkv * blocks;
  }
  const int64_t slot_floats = per * dv + 2 * per;  // a block's outputs, then its stats
  if ((int64_t)parts.size() < slots * slot_floats) parts.resize((size_t)(slots * slot_floats));
  // Query row r of the output: segments' rows in order.
  const auto out_row = [&](const Unit& u) {
    int64_t r = u.row;
    for (int32_t s = 0; s < u.seg; ++s) r += segs[s].tokens;
    return r;
  };
  const Kernels& kern = active_kernels();
  // One pool job over every (unit, key head, head block).
  parallel_for((int64_t)units.size() * hkv * blocks, [&](int64_t task, int thread) {
    const Unit& u = units[(size_t)(task / (hkv * blocks))];
    const int64_t kvh = task / blocks % hkv, b = task % blocks, r = out_row(u);
    const AttentionSegment& sg = segs[u.seg];
    const int64_t h0 = kvh * group + b * per, nh = std::min(per, group - b * per);
    const int64_t visible = sg.keys - sg.tokens + u.row + 1;
    const int64_t k0 = visible * u.range / u.ranges, k1 = visible * (u.range + 1) / u.ranges;
    float* scores = static_cast<float*>(thread_scratch(thread, (size_t)(nh * (k1 - k0)) * sizeof(float)));
    float* slot = u.slot < 0 ? nullptr : parts.data() + (u.slot + kvh * blocks + b) * slot_floats;
    kern.attend(AttendBlock{q + (r * hq + h0) * d, d, nh, sg.k.p + kvh * sg.k.stride_h + k0 * sg.k.stride_s, sg.k.stride_s,
                            sg.v.p + kvh * sg.v.stride_h + k0 * sg.v.stride_s, sg.v.stride_s, k1 - k0, dv, scale, scores,
                            slot ? slot : out + (r * hq + h0) * dv, slot ? slot + per * dv : nullptr});
  }, work);
  if (slots == 0) return;
  // Merge each split row's ranges, block by block (slots of one row: range-major, then key head and block).
  thread_local std::vector<float> merge_kept;
  std::vector<float>& merge = merge_kept;
  for (size_t i = 0; i < units.size(); i += (size_t)units[i].ranges) {
    const Unit& u = units[i];
    if (u.ranges == 1) continue;
    const int64_t r = out_row(u);
    for (int64_t kvh = 0; kvh < hkv; ++kvh)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t h0 = kvh * group + b * per, nh = std::min(per, group - b * per);
        // Gather the ranges' outputs and stats of this block contiguously, as attend_merge reads them.
        merge.resize((size_t)(u.ranges * (nh * dv + 2 * nh)));
        float* outs = merge.data();
        float* stats = outs + u.ranges * nh * dv;
        for (int32_t j = 0; j < u.ranges; ++j) {
          const float* slot = parts.data() + (u.slot + (j * hkv + kvh) * blocks + b) * slot_floats;
          std::memcpy(outs + j * nh * dv, slot, sizeof(float) * (size_t)(nh * dv));
          std::memcpy(stats + j * 2 * nh, slot + per * dv, sizeof(float) * (size_t)(2 * nh));
        }
        attend_merge(outs, stats, u.ranges, nh, dv, out + (r * hq + h0) * dv);
      }
  }
}

void swiglu_span(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void model_swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for_chunks(n, kMinElementsPerTask, [&](int64_t i0, int64_t i1) { swiglu_span(gate + i0, up + i0, i1 - i0, out + i0); });
}

void model_add(const float* a, const float* b, int64_t n, float* out) {
  for_chunks(n, kMinElementsPerTask * 4, [&](int64_t i0, int64_t i1) {
    const float *pa = a, *pb = b;  // locals, as in model_rms_norm
    float* po = out;
    const int64_t e0 = i0, e1 = i1;
    for (int64_t i = e0; i < e1; ++i) po[i] = pa[i] + pb[i];
  });
}

}  // namespace mlxk

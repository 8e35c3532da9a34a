// A whole MoE feed-forward block, the routed experts and the shared experts beside them, in two
// pool jobs: every gate and up row of every expert (each task applies SwiGLU to the rows it made),
// then every down row; the weighted combine runs after. Each output row comes from the same kernel
// call on the same activation rows as the op-by-op path (moe_qmatmul / dense_gathered for the
// routed experts, model_linear for the shared ones, model_swiglu, model_add), so the floats are
// identical; what it saves is four pool round trips per block, a serial SwiGLU, and the shared
// experts waiting for the routed ones (issue 14: on two cores a tiny-kimi MoE block was 6 jobs).
#include <algorithm>
#include <vector>

#include "dispatch.h"
#include "model_ops.h"

namespace mlxk {
namespace {

/** One expert's (or the shared MLP's) products over its slots [first, first + count). */
struct Product {
  const MlpWeights* w;
  int64_t expert, first, count;
};

struct Task {
  int64_t product;
  RowRange rows;
};

/**
 * Per calling thread, reused: a decode step allocates nothing once grown. A slot is one activation
 * row of one product: the routed pairs grouped by expert, then the shared MLP's tokens.
 */
struct BlockScratch {
  QuantizedRows inputs[4], hidden_routed, hidden_shared;
  std::vector<int64_t> start, fill, token_of, pair_of;
  std::vector<ActRow> gate_acts, up_acts, down_acts;
  std::vector<const float*> xs, hs;
  std::vector<float*> gate_out, up_out, down_out;
  std::vector<Product> products;
  std::vector<Task> tasks;
  std::vector<RowRange> ranges;
  Floats gate, up, down, shared_gate, shared_up, shared_down;
};
thread_local BlockScratch tls;

/** Rows [n0, n1) of w's entry `expert` for the product's slots. */
void product_rows(const ModelWeight& w, const Product& p, const ActRow* acts, const float* const* xs, float* const* outs, RowRange r,
                  int thread) {
  if (w.quantized) quant_product_rows(stack_entry(w.q, p.expert), acts + p.first, p.count, outs + p.first, r.n0, r.n1, thread);
  else dense_product_rows(dense_entry(w.d, p.expert), xs + p.first, p.count, outs + p.first, r.n0, r.n1);
}

/** The products' row ranges as one task list, sized for `work` multiply-adds in all. */
void plan_tasks(BlockScratch& b, int64_t work, bool gate_side) {
  // Ranges per product: the tasks' count a multiple of the threads where that takes at most a
  // few more (tiny-kimi at B = 1: four experts and the shared MLP as 10 tasks, not 5 shared 3 : 2).
  const int64_t threads = thread_count(), products = (int64_t)b.products.size();
  int64_t target = 1;
  if (worth_pooling(work)) {
    target = std::max<int64_t>(1, threads * ranges_per_thread(work) / products);
    for (int64_t t = target; t < target + threads; ++t)
      if (products * t % threads == 0) {
        target = t;
        break;
      }
  }
  b.tasks.clear();
  for (int64_t i = 0; i < (int64_t)b.products.size(); ++i) {
    const Product& p = b.products[(size_t)i];
    const ModelWeight& w = gate_side ? *p.w->gate : *p.w->down;
    b.ranges.clear();
    product_row_ranges(w.quantized, p.count, w.n(), target, b.ranges);
    for (const RowRange& r : b.ranges) b.tasks.push_back(Task{i, r});
  }
}

/** x's rows quantized for w (nullptr when w is dense), sharing one quantization among weights of one group size. */
const ActBuffer* input_for(BlockScratch& b, ActBuffer (&made)[4], int& count, const ModelWeight& w, const float* x, int64_t rows,
                           int planes) {
  if (!w.quantized) return nullptr;
  for (int i = 0; i < count; ++i)
    if (made[i].group_size == w.q.group_size) return &made[i];
  made[count] = b.inputs[count].quantize(x, rows, w.k(), w.q.group_size, planes);
  return &made[count++];
}

}  // namespace

void model_moe(const float* x, int64_t tokens, const int32_t* indices, const float* weights, int64_t k, const MlpWeights* experts,
               const MlpWeights* shared, float* out, int planes) {
  BlockScratch& b = tls;
  if (!experts) k = 0;
  const MlpWeights& any = experts ? *experts : *shared;
  const int64_t pairs = tokens * k, E = experts ? experts->gate->experts : 0, hidden = any.down->n(), inter = any.gate->n();
  const int64_t shared_inter = shared ? shared->gate->n() : 0, slots = pairs + (shared ? tokens : 0);

  // Slots: pairs grouped by expert (counting sort keeps each expert's pairs in input order), then the shared tokens.
  b.start.assign((size_t)E + 1, 0);
  for (int64_t p = 0; p < pairs; ++p) ++b.start[(size_t)indices[p] + 1];
  for (int64_t e = 0; e < E; ++e) b.start[(size_t)e + 1] += b.start[(size_t)e];
  b.fill.assign(b.start.begin(), b.start.end() - 1);
  b.pair_of.resize((size_t)slots);
  b.token_of.resize((size_t)slots);
  for (int64_t p = 0; p < pairs; ++p) {
    const int64_t s = b.fill[(size_t)indices[p]]++;
    b.pair_of[(size_t)s] = p;
    b.token_of[(size_t)s] = p / k;
  }
  for (int64_t t = 0; t < slots - pairs; ++t) b.pair_of[(size_t)(pairs + t)] = t, b.token_of[(size_t)(pairs + t)] = t;
  b.products.clear();
  for (int64_t e = 0; e < E; ++e)
    if (b.start[(size_t)e + 1] > b.start[(size_t)e]) b.products.push_back(Product{experts, e, b.start[(size_t)e], b.start[(size_t)e + 1] - b.start[(size_t)e]});
  if (shared) b.products.push_back(Product{shared, 0, pairs, tokens});

  // Inputs of gate and up: x's rows, quantized once per group size among the quantized weights.
  ActBuffer made[4];
  int made_count = 0;
  const ActBuffer* gate_in = experts ? input_for(b, made, made_count, *experts->gate, x, tokens, planes) : nullptr;
  const ActBuffer* up_in = experts ? input_for(b, made, made_count, *experts->up, x, tokens, planes) : nullptr;
  const ActBuffer* shared_gate_in = shared ? input_for(b, made, made_count, *shared->gate, x, tokens, planes) : nullptr;
  const ActBuffer* shared_up_in = shared ? input_for(b, made, made_count, *shared->up, x, tokens, planes) : nullptr;
  float* gate = sized(b.gate, pairs * inter);
  float* up = sized(b.up, pairs * inter);
  float* down = sized(b.down, pairs * hidden);
  float* s_gate = sized(b.shared_gate, tokens * shared_inter);
  float* s_up = sized(b.shared_up, tokens * shared_inter);
  float* s_down = sized(b.shared_down, shared ? tokens * hidden : 0);
  for (auto* v : {&b.gate_acts, &b.up_acts, &b.down_acts}) v->resize((size_t)slots);
  for (auto* v : {&b.xs, &b.hs}) v->resize((size_t)slots);
  for (auto* v : {&b.gate_out, &b.up_out, &b.down_out}) v->resize((size_t)slots);
  for (int64_t s = 0; s < slots; ++s) {
    const bool routed = s < pairs;
    const int64_t t = b.token_of[(size_t)s], p = b.pair_of[(size_t)s];
    const ActBuffer* gi = routed ? gate_in : shared_gate_in;
    const ActBuffer* ui = routed ? up_in : shared_up_in;
    if (gi) b.gate_acts[(size_t)s] = act_row(*gi, t);
    if (ui) b.up_acts[(size_t)s] = act_row(*ui, t);
    b.xs[(size_t)s] = x + t * hidden;
    b.gate_out[(size_t)s] = routed ? gate + p * inter : s_gate + p * shared_inter;
    b.up_out[(size_t)s] = routed ? up + p * inter : s_up + p * shared_inter;
    b.hs[(size_t)s] = b.gate_out[(size_t)s];
    b.down_out[(size_t)s] = routed ? down + p * hidden : s_down + p * hidden;
  }

  // Job 1: gate and up, then SwiGLU on the task's rows (into the gate rows, as model_moe always did).
  plan_tasks(b, 2 * hidden * (pairs * inter + tokens * shared_inter), true);
  parallel_for((int64_t)b.tasks.size(), [&](int64_t task, int thread) {
    const Task& tk = b.tasks[(size_t)task];
    const Product& p = b.products[(size_t)tk.product];
    product_rows(*p.w->gate, p, b.gate_acts.data(), b.xs.data(), b.gate_out.data(), tk.rows, thread);
    product_rows(*p.w->up, p, b.up_acts.data(), b.xs.data(), b.up_out.data(), tk.rows, thread);
    for (int64_t s = p.first; s < p.first + p.count; ++s)
      swiglu_span(b.gate_out[(size_t)s] + tk.rows.n0, b.up_out[(size_t)s] + tk.rows.n0, tk.rows.n1 - tk.rows.n0, b.gate_out[(size_t)s] + tk.rows.n0);
  }, 2 * hidden * (pairs * inter + tokens * shared_inter));

  // Job 2: down, over the SwiGLU rows quantized for each down weight.
  if (experts && experts->down->quantized) {
    const ActBuffer h = b.hidden_routed.quantize(gate, pairs, inter, experts->down->q.group_size, planes);
    for (int64_t s = 0; s < pairs; ++s) b.down_acts[(size_t)s] = act_row(h, b.pair_of[(size_t)s]);
  }
  if (shared && shared->down->quantized) {
    const ActBuffer h = b.hidden_shared.quantize(s_gate, tokens, shared_inter, shared->down->q.group_size, planes);
    for (int64_t t = 0; t < tokens; ++t) b.down_acts[(size_t)(pairs + t)] = act_row(h, t);
  }
  plan_tasks(b, hidden * (pairs * inter + tokens * shared_inter), false);
  parallel_for((int64_t)b.tasks.size(), [&](int64_t task, int thread) {
    const Task& tk = b.tasks[(size_t)task];
    const Product& p = b.products[(size_t)tk.product];
    product_rows(*p.w->down, p, b.down_acts.data(), b.hs.data(), b.down_out.data(), tk.rows, thread);
  }, hidden * (pairs * inter + tokens * shared_inter));

  // Σ_j weight · down row in j order, then the shared experts' row added (model_add's a + b); a
  // plain MLP's rows as they are.
  if (!experts) {
    std::copy(s_down, s_down + tokens * hidden, out);
    return;
  }
  for_chunks(tokens, std::max<int64_t>(1, kMinElementsPerTask / (hidden * k)), [&](int64_t t0, int64_t t1) {
    // Locals (see model_rms_norm): through the captured references every store could change the
    // lengths and pointers, and the loops ran a value at a time.
    const int64_t n = hidden, kk = k;
    const float* w = weights;
    for (int64_t t = t0; t < t1; ++t) {
      float* __restrict o = out + t * n;
      std::fill(o, o + n, 0.0f);
      for (int64_t j = 0; j < kk; ++j) {
        const float wj = w[t * kk + j];
        const float* __restrict dr = down + (t * kk + j) * n;
        for (int64_t i = 0; i < n; ++i) o[i] += wj * dr[i];
      }
      if (!shared) continue;
      const float* __restrict sr = s_down + t * n;
      for (int64_t i = 0; i < n; ++i) o[i] = o[i] + sr[i];
    }
  });
}

}  // namespace mlxk

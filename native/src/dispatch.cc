#include "dispatch.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu.h"
#include "threadpool.h"

namespace mlxk {
namespace {

// Tasks per thread: enough that a thread slowed by other load takes fewer of them,
// few enough that each task still streams a long contiguous run of weight rows.
constexpr int kTasksPerThread = 8;
// Below this many multiply-adds, one task per thread: each task repeats the kernel's per-call
// setup, and each claim moves the task counter's cache line between cores.
constexpr int64_t kSmallJobWork = int64_t(1) << 20;
constexpr int64_t kMinGemvRowsPerTask = 16;
// A product of one weight matrix (a decode step's attention projections, lm_head) is split into
// tasks of at least this many bytes: tasks are claimed in turn, so two threads read alternating
// slices of the matrix, and this VM's memory gave two threads 35-44 GB/s over alternating 64 KiB
// chunks, 47-62 over 256 KiB ones and 55-67 over contiguous halves (batch-decode.md, twelfth pass).
constexpr size_t kMinTaskBytes = size_t(256) << 10;
// Below this many multiply-adds a job runs on the calling thread. An empty two-task job costs
// ~0.8 µs on an idle Zen 1 (the workers spin between jobs), 2^15 take ~3 µs in a quantized GEMV
// there, and jobs this small go out as one task per thread (kSmallJobWork): tiny-kimi tg128 went
// from ~1,100 (2^19, every product alone) to ~1,250 tokens/s. Under heavy load a job can cost
// ~60 µs of wall (profile-decode at load 13), which MLXK_THREADS=1 avoids.
constexpr int64_t kMinPooledWork = int64_t(1) << 15;

struct Runtime {
  std::mutex mu;
  // One job at a time on the pool: calls from several JS threads (worker_threads) queue here.
  std::mutex run_mu;
  const Kernels* kernels = nullptr;
  std::unique_ptr<ThreadPool> pool;
};

Runtime& rt() {
  static Runtime r;
  return r;
}

void init_locked(Runtime& r) {
  if (r.kernels) return;
  const char* isa = std::getenv("MLXK_ISA");
  r.kernels = kernels_by_name(isa && *isa ? isa : "auto");
  if (!r.kernels) r.kernels = kernels_by_name("auto");
  const char* threads = std::getenv("MLXK_THREADS");
  const int n = threads && std::atoi(threads) > 0 ? std::atoi(threads) : physical_cores();
  r.pool = std::make_unique<ThreadPool>(n);
}

Runtime& ready() {
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  init_locked(r);
  return r;
}

/** The layout of quantized activations in `mem` (grown as needed). */
ActBuffer act_layout(std::vector<uint64_t>& mem, int64_t rows, int64_t k, int gs, int planes) {
  const int64_t kpad = pad64(k);
  const size_t qb = (size_t)(rows * kpad) * (size_t)planes, db = (size_t)(rows * (kpad / kActBlock)) * 4, sb = (size_t)(rows * (k / gs)) * 4;
  const size_t words = (qb + db + sb + 64) / 8 + 8;
  if (mem.size() < words) mem.resize(words);
  uint8_t* base = reinterpret_cast<uint8_t*>(mem.data());
  ActBuffer a;
  a.rows = rows;
  a.k = k;
  a.kpad = kpad;
  a.group_size = gs;
  a.q = reinterpret_cast<int8_t*>(base);
  a.q2 = planes == 2 ? a.q + rows * kpad : nullptr;
  a.d = reinterpret_cast<float*>(base + (qb + 3) / 4 * 4);
  a.sx = a.d + rows * (kpad / kActBlock);
  return a;
}

/** Quantizes x into act's rows, on the pool when there are enough of them. */
void quantize_into(Runtime& r, const float* x, const ActBuffer& act) {
  const int64_t rows = act.rows, k = act.k, gs = act.group_size;
  const int64_t per_task = std::max<int64_t>(1, (rows + r.pool->size() - 1) / r.pool->size());
  const Kernels* kern = r.kernels;
  r.pool->run((rows + per_task - 1) / per_task, [&](int64_t task, int) {
    const int64_t r0 = task * per_task, n = std::min(per_task, rows - r0);
    ActBuffer part = act;
    part.rows = n;
    part.q += r0 * act.kpad;
    if (part.q2) part.q2 += r0 * act.kpad;
    part.d += r0 * (act.kpad / kActBlock);
    part.sx += r0 * (k / gs);
    kern->quantize_rows(x + r0 * k, n, k, part);
  }, rows * k * 4 < kMinPooledWork);
}

// Quantized activations of the current call; one buffer per calling thread, reused.
thread_local std::vector<uint64_t> tls_acts;

ActBuffer quantize(Runtime& r, const float* x, int64_t rows, int64_t k, int gs, int planes) {
  const ActBuffer act = act_layout(tls_acts, rows, k, gs, planes);
  quantize_into(r, x, act);
  return act;
}

}  // namespace

const Kernels& active_kernels() { return *ready().kernels; }

bool set_isa(const std::string& name) {
  const Kernels* k = kernels_by_name(name);
  if (!k) return false;
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  std::lock_guard<std::mutex> lock(r.mu);
  r.kernels = k;
  return true;
}

int thread_count() { return ready().pool->size(); }

void set_threads(int n) {
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  std::lock_guard<std::mutex> lock(r.mu);
  if (n < 1) n = 1;
  if (r.pool->size() != n) r.pool = std::make_unique<ThreadPool>(n);
}

void qmatmul(const float* x, int64_t m, const QuantMatrix& w, float* out, int planes) {
  thread_local std::vector<int32_t> rows, experts;
  if ((int64_t)rows.size() < m) {
    rows.resize((size_t)m);
    experts.assign((size_t)m, 0);
    for (int64_t i = 0; i < m; ++i) rows[(size_t)i] = (int32_t)i;
  }
  moe_qmatmul(x, m, rows.data(), experts.data(), m, w, 1, out, planes);
}

ActBuffer QuantizedRows::quantize(const float* x, int64_t rows, int64_t k, int gs, int planes) {
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  const ActBuffer act = act_layout(mem_, rows, k, gs, planes);
  quantize_into(r, x, act);
  return act;
}

void product_row_ranges(bool quantized, int64_t count, int64_t n, int64_t target, std::vector<RowRange>& out) {
  const bool gemv = count <= kGemvMaxM;
  const int64_t panel = quantized ? active_kernels().gemm_panel_rows : 32;  // dense GEMM: 32-row panels
  const int64_t align = gemv ? 4 : panel, min_rows = quantized && !gemv ? panel : kMinGemvRowsPerTask;
  int64_t per = std::max<int64_t>(min_rows, (n + target - 1) / std::max<int64_t>(1, target));
  per = (per + align - 1) / align * align;
  for (int64_t n0 = 0; n0 < n; n0 += per) out.push_back(RowRange{n0, std::min(n, n0 + per)});
}

int64_t ranges_per_thread(int64_t work) { return work < kSmallJobWork ? 1 : kTasksPerThread; }

void quant_product_rows(const QuantMatrix& w, const ActRow* acts, int64_t count, float* const* outs, int64_t n0, int64_t n1, int thread) {
  const Runtime& r = rt();
  void* s = r.pool->scratch(thread, r.kernels->scratch_bytes(w.k, w.group_size));
  if (count <= kGemvMaxM) r.kernels->gemv(w, acts, (int)count, outs, n0, n1, s);
  else r.kernels->gemm(w, acts, (int)count, outs, n0, n1, s);
}

void dense_product_rows(const DenseMatrix& w, const float* const* xs, int64_t count, float* const* outs, int64_t n0, int64_t n1) {
  rt().kernels->dense(w, xs, (int)count, outs, n0, n1);
}

namespace {
struct ExpertRange {
  int64_t expert;
  RowRange rows;
};

/** moe_qmatmul's bookkeeping, kept per calling thread so a decode step allocates nothing. */
struct MoeScratch {
  std::vector<int64_t> start, fill;
  std::vector<ActRow> acts;
  std::vector<float*> outs;
  std::vector<RowRange> ranges;
  std::vector<ExpertRange> jobs;
};
thread_local MoeScratch tls_moe;
}  // namespace

void moe_qmatmul(const float* x, int64_t rows, const int32_t* row_index, const int32_t* expert_index, int64_t pairs,
                 const QuantMatrix& w, int64_t experts, float* out, int planes) {
  if (pairs <= 0) return;
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  ThreadPool& pool = *r.pool;
  const ActBuffer act = quantize(r, x, rows, w.k, w.group_size, planes);

  // Pairs grouped by expert (counting sort keeps each expert's pairs in input order).
  MoeScratch& b = tls_moe;
  std::vector<int64_t>& start = b.start;
  start.assign((size_t)experts + 1, 0);
  for (int64_t p = 0; p < pairs; ++p) ++start[expert_index[p] + 1];
  for (int64_t e = 0; e < experts; ++e) start[e + 1] += start[e];
  b.fill.assign(start.begin(), start.end() - 1);
  b.acts.resize((size_t)pairs);
  b.outs.resize((size_t)pairs);
  for (int64_t p = 0; p < pairs; ++p) {
    const int64_t slot = b.fill[expert_index[p]]++;
    b.acts[slot] = act_row(act, row_index[p]);
    b.outs[slot] = out + p * w.n;
  }

  int64_t used = 0;
  for (int64_t e = 0; e < experts; ++e) used += start[e + 1] > start[e];
  // A job run on the caller alone takes each expert's rows in one task: more tasks would only
  // repeat the kernel's per-call setup (activation permute, constants).
  const int64_t work = pairs * w.n * w.k;
  const bool alone = work < kMinPooledWork;
  int64_t target = alone ? 1 : std::max<int64_t>(1, (int64_t)pool.size() * ranges_per_thread(work) / std::max<int64_t>(1, used));
  if (!alone && used == 1 && pairs <= kGemvMaxM) {
    const size_t bytes = (size_t)w.n * (row_bytes(w) + 2 * scale_row_bytes(w));
    target = std::max<int64_t>(pool.size(), std::min<int64_t>(target, (int64_t)(bytes / kMinTaskBytes)));
  }
  b.jobs.clear();
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t count = start[e + 1] - start[e];
    if (count == 0) continue;
    b.ranges.clear();
    product_row_ranges(true, count, w.n, target, b.ranges);
    for (const RowRange& rr : b.ranges) b.jobs.push_back(ExpertRange{e, rr});
  }
  // A call that reads every entry (the heads of a per-head weight) lets the kernels prefetch on
  // from one entry into the next: a [256, 64] head is 8 KB, shorter than the prefetch distance,
  // and the 16 heads of the 3 B model's embed_q streamed at ~5 GB/s without it.
  QuantMatrix stack = w;
  if (used == experts) stack.read_rows = experts * w.n;
  pool.run((int64_t)b.jobs.size(), [&](int64_t task, int thread) {
    const ExpertRange& job = b.jobs[task];
    const int64_t first = start[job.expert];
    quant_product_rows(stack_entry(stack, job.expert), &b.acts[first], start[job.expert + 1] - first, &b.outs[first], job.rows.n0, job.rows.n1, thread);
  }, alone);
}

void dense_matmul(const float* x, int64_t m, const DenseMatrix& w, float* out) {
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  std::vector<const float*> xs(m);
  std::vector<float*> outs(m);
  for (int64_t i = 0; i < m; ++i) {
    xs[i] = x + i * w.k;
    outs[i] = out + i * w.n;
  }
  std::vector<RowRange> ranges;
  product_row_ranges(false, m, w.n, (int64_t)r.pool->size() * kTasksPerThread, ranges);
  r.pool->run((int64_t)ranges.size(), [&](int64_t task, int) {
    dense_product_rows(w, xs.data(), m, outs.data(), ranges[task].n0, ranges[task].n1);
  }, m * w.n * w.k < kMinPooledWork);
}

bool worth_pooling(int64_t work) { return work >= kMinPooledWork; }

void parallel_for(int64_t tasks, const std::function<void(int64_t, int)>& fn, int64_t work) {
  if (tasks <= 0) return;
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  r.pool->run(tasks, [&](int64_t task, int thread) { fn(task, thread); }, !worth_pooling(work));
}

PoolStats pool_stats(bool reset) {
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  const ThreadPool::Stats s = r.pool->stats();
  if (reset) r.pool->reset_stats();
  return PoolStats{s.jobs, s.inline_jobs, s.job_ns, s.wait_ns, s.wakeups, s.blocked_waits};
}

void* thread_scratch(int thread, size_t bytes) { return rt().pool->scratch(thread, bytes); }

void quantize_activations(const float* x, int64_t m, int64_t k, int group_size, int8_t* q, int8_t* q2, float* d,
                          float* sx) {
  Runtime& r = ready();
  std::lock_guard<std::mutex> running(r.run_mu);
  const ActBuffer act = quantize(r, x, m, k, group_size, q2 ? 2 : 1);
  std::copy(act.q, act.q + m * act.kpad, q);
  if (q2) std::copy(act.q2, act.q2 + m * act.kpad, q2);
  std::copy(act.d, act.d + m * (act.kpad / kActBlock), d);
  std::copy(act.sx, act.sx + m * (k / group_size), sx);
}

double read_bandwidth_gbs(const uint8_t* p, size_t bytes, int threads, int reps) {
  const Kernels& kern = active_kernels();
  const size_t slice = bytes / (size_t)threads / 256 * 256;
  std::vector<double> sink((size_t)threads, 0.0);
  auto read = [&](int t) {
    for (int i = 0; i < reps; ++i) sink[(size_t)t] += kern.read_bandwidth_pass(p + (size_t)t * slice, slice);
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) ts.emplace_back(read, t);
  read(0);
  for (auto& t : ts) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile double keep = 0;  // the sums are never looked at; this keeps the reads from being optimized away
  for (double s : sink) keep = keep + s;
  return (double)slice * threads * reps / seconds / 1e9;
}

}  // namespace mlxk

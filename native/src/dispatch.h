// Entry points of the kernels: quantize the activations once, split the output
// rows into tasks for the thread pool, and call the selected kernel set.
#pragma once
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels.h"

namespace mlxk {

/** Kernel set in use: MLXK_ISA (auto|avx512|avx2|neon|scalar) at first use, then set_isa. */
const Kernels& active_kernels();
/** Returns false (and changes nothing) when this CPU cannot run `name`. */
bool set_isa(const std::string& name);

/** Thread count: MLXK_THREADS at first use (default: physical cores), then set_threads. */
int thread_count();
void set_threads(int n);

/** out[m, n] = Σ_k x[m, k] · W[n, k] for a quantized W; planes = 1 (int8 activations) or 2 (16-bit). */
void qmatmul(const float* x, int64_t m, const QuantMatrix& w, float* out, int planes);

/**
 * For each pair p: out[p, :] = x[row_index[p], :] · W[expert_index[p]]ᵀ, with W stacked
 * [experts, N, K] (`w` describes expert 0; the others follow at the same strides).
 * Pairs are grouped by expert so each expert's weights are read once per call.
 * Indices must be validated by the caller.
 */
void moe_qmatmul(const float* x, int64_t rows, const int32_t* row_index, const int32_t* expert_index, int64_t pairs,
                 const QuantMatrix& w, int64_t experts, float* out, int planes);

/**
 * Activations quantized for the kernels (see quantize_activations), held in storage this object
 * owns and reuses: a fused block keeps several inputs alive across its pool jobs.
 */
class QuantizedRows {
 public:
  /** x [rows, k] for products of group size gs (planes 1 or 2); valid until the next call on this object. */
  ActBuffer quantize(const float* x, int64_t rows, int64_t k, int gs, int planes);

 private:
  std::vector<uint64_t> mem_;
};

/** One pool task of a product: rows [n0, n1) of W for every activation row of its group. */
struct RowRange {
  int64_t n0, n1;
};

/**
 * Appends about `target` row ranges covering [0, n), aligned as the kernel that a product of
 * `count` activation rows runs needs (GEMV tiles, GEMM panels, dense panels). Where the ranges
 * fall never changes a result: each output row is computed the same way in any of them.
 */
void product_row_ranges(bool quantized, int64_t count, int64_t n, int64_t target, std::vector<RowRange>& out);

/** Row ranges per thread for a job of `work` multiply-adds (one for small jobs: each range repeats the kernel's setup). */
int64_t ranges_per_thread(int64_t work);

/** Rows [n0, n1) of acts·Wᵀ into outs[i] + n0 …, run on pool thread `thread` (inside parallel_for, or thread 0 outside). */
void quant_product_rows(const QuantMatrix& w, const ActRow* acts, int64_t count, float* const* outs, int64_t n0, int64_t n1, int thread);

/** Rows [n0, n1) of xs·Wᵀ for a dense W. */
void dense_product_rows(const DenseMatrix& w, const float* const* xs, int64_t count, float* const* outs, int64_t n0, int64_t n1);

/** out[m, n] = Σ_k x[m, k] · W[n, k] for dense bf16/f16/f32 W, float32 throughout. */
void dense_matmul(const float* x, int64_t m, const DenseMatrix& w, float* out);

/**
 * The activation quantization the kernels use (exposed for tests): q [m, pad64(k)],
 * q2 (nullptr for one plane) [m, pad64(k)], d [m, pad64(k)/32], sx [m, k/gs].
 */
void quantize_activations(const float* x, int64_t m, int64_t k, int group_size, int8_t* q, int8_t* q2, float* d,
                          float* sx);

/**
 * Runs fn(task, thread) for every task in [0, tasks) on the kernels' pool (one job at a
 * time, like the kernels); thread is in [0, thread_count()). For the model ops (ops.cc).
 * `work` (multiply-adds, or a like measure): a small job runs on the calling thread alone.
 */
void parallel_for(int64_t tasks, const std::function<void(int64_t task, int thread)>& fn, int64_t work = INT64_MAX);

/** fn(begin, end) over [0, n) in pool tasks of at least `min_chunk` items (inline when one task suffices). */
template <class F>
void for_chunks(int64_t n, int64_t min_chunk, F&& fn) {
  if (n <= 0) return;
  const int64_t tasks = std::min<int64_t>((int64_t)thread_count() * 4, (n + min_chunk - 1) / min_chunk);
  if (tasks <= 1) return fn((int64_t)0, n);
  const int64_t per = (n + tasks - 1) / tasks;
  parallel_for((n + per - 1) / per, [&](int64_t t, int) { fn(t * per, std::min(n, (t + 1) * per)); });
}

/** Elementwise work below this many elements per task stays on one thread. */
constexpr int64_t kMinElementsPerTask = 16384;

/** Whether a job of `work` multiply-adds goes to the pool's workers (parallel_for runs smaller ones inline). */
bool worth_pooling(int64_t work);

/** Thread `thread`'s 64-byte aligned scratch of at least `bytes`; only inside parallel_for. */
void* thread_scratch(int thread, size_t bytes);

/** The pool's counters (see ThreadPool::Stats), then zeroed when `reset`. */
struct PoolStats {
  uint64_t jobs, inline_jobs, job_ns, wait_ns, wakeups, blocked_waits;
};
PoolStats pool_stats(bool reset);

/** GB/s (1e9 bytes/s) of `threads` threads each reading its slice of [p, p+bytes) `reps` times. */
double read_bandwidth_gbs(const uint8_t* p, size_t bytes, int threads, int reps);

}  // namespace mlxk

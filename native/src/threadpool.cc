#include "threadpool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define MLXK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MLXK_PAUSE() __asm__ __volatile__("yield")
#else
#define MLXK_PAUSE() ((void)0)
#endif

namespace mlxk {

namespace {
// About 50 µs of polling before a worker sleeps.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) : scratch_(threads < 1 ? 1 : threads) {
  for (int t = 1; t < (threads < 1 ? 1 : threads); ++t) workers_.emplace_back([this, t] { worker_main(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void* ThreadPool::scratch(int thread, size_t bytes) {
  auto& buf = scratch_[thread];
  const size_t words = (bytes + 64 + 7) / 8;
  if (buf.size() < words) buf.assign(words, 0);
  const uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((p + 63) & ~uintptr_t(63));
}

void ThreadPool::work(int thread) {
  for (;;) {
    const int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
    if (task >= tasks_) break;
    fn_(ctx_, task, thread);
  }
}

void ThreadPool::run_raw(int64_t tasks, TaskFn fn, void* ctx) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(ctx, t, 0);
    return;
  }
  tasks_ = tasks;
  fn_ = fn;
  ctx_ = ctx;
  next_.store(0, std::memory_order_relaxed);
  busy_.store((int)workers_.size(), std::memory_order_relaxed);
  // seq_cst on both sides (here and around the worker's sleeping_ increment) so that either
  // the worker sees the new generation or this thread sees the sleeper.
  generation_.fetch_add(1);
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  work(0);
  for (int spins = 0; busy_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinIterations) MLXK_PAUSE();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker_main(int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spins = 0; gen == seen && spins < kSpinIterations; ++spins) {
      MLXK_PAUSE();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      sleeping_.fetch_sub(1);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load()) return;
    work(thread);
    busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace mlxk

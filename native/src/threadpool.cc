#include "threadpool.h"

#include <algorithm>
#include <chrono>

#ifdef __APPLE__
#include <pthread/qos.h>
#endif

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
constexpr auto kSpin = std::chrono::microseconds(1000);
constexpr uint32_t kTaskMask = 0xffffffffu;
}  // namespace

ThreadPool::ThreadPool(int threads) : scratch_(threads < 1 ? 1 : threads) {
  for (int t = 1; t < (threads < 1 ? 1 : threads); ++t) workers_.emplace_back([this, t] { worker_main(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
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

// Claims tasks of job `generation` until none are left; returns how many it ran. A claim is a
// CAS on the counter that also checks the generation, so it fails once a newer job is published.
int64_t ThreadPool::work(uint64_t generation, int thread) {
  uint64_t v = counter_.load(std::memory_order_acquire);
  int64_t ran = 0;
  for (;;) {
    if ((v >> 32) != (generation & kTaskMask)) return ran;
    const int64_t task = (int64_t)(v & kTaskMask);
    const int64_t tasks = tasks_.load(std::memory_order_acquire);
    if (task >= tasks) return ran;
    if (!counter_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
    fn_(ctx_, task, thread);
    ++ran;
    // seq_cst with the caller's caller_waiting_ store and done_ load (run_raw): either this
    // thread sees the caller waiting or the caller sees the job done.
    if (done_.fetch_add(1) + 1 == tasks && caller_waiting_.load()) {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_cv_.notify_one();
    }
    v = counter_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_raw(int64_t tasks, TaskFn fn, void* ctx, bool alone) {
  if (tasks <= 0) return;
  if (alone || workers_.empty() || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(ctx, t, 0);
    inline_jobs_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  // The previous job is complete (done_ reached its task count), so no worker holds a
  // claimed task. First close the counter under the new generation (task index at the
  // maximum: nothing can be claimed, and late workers of the old job see a foreign
  // generation), then rewrite the job, then open it.
  const uint64_t gen = generation_.load() + 1;
  counter_.store(((gen & kTaskMask) << 32) | kTaskMask, std::memory_order_seq_cst);
  fn_ = fn;
  ctx_ = ctx;
  tasks_.store(tasks, std::memory_order_release);
  done_.store(0, std::memory_order_release);
  counter_.store((gen & kTaskMask) << 32, std::memory_order_release);
  // seq_cst on both sides (here and around the worker's sleeping_ increment): either
  // the worker sees the new generation or this thread sees the sleeper.
  generation_.store(gen);
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  const int64_t own = work(gen, 0);
  const auto t1 = std::chrono::steady_clock::now();
  // Spin for the other threads' last tasks, about as long as a few of this thread's tasks took;
  // past that a worker has likely been preempted mid-task (on two vCPUs a V8 helper thread
  // takes a core for a scheduler tick, 4 ms: 1-2 % of tiny-kimi's steps took 4-9 ms). Blocking
  // then leaves this core idle, and the kernel's idle balancing moves the preempted worker onto
  // it; spinning on kept it from running anywhere until the tick. At most a millisecond: this
  // thread's own tasks look long when it was the one preempted (on a loaded machine a 200 µs task
  // took 4 ms of wall time and the caller then spun 8-11 ms of CPU before blocking), and past a
  // millisecond the wake-up's tens of microseconds cost less than spinning.
  const auto patience = std::min<std::chrono::steady_clock::duration>(
      std::chrono::milliseconds(1), std::chrono::microseconds(20) + (t1 - t0) * 3 / std::max<int64_t>(1, own));
  for (int spins = 0; done_.load(std::memory_order_acquire) != tasks; ++spins) {
    MLXK_PAUSE();
    if ((spins & 63) == 63 && std::chrono::steady_clock::now() - t1 > patience) {
      std::unique_lock<std::mutex> lock(done_mu_);
      caller_waiting_.store(true);
      done_cv_.wait(lock, [&] { return done_.load() == tasks; });
      caller_waiting_.store(false);
      blocked_waits_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  const auto t2 = std::chrono::steady_clock::now();
  jobs_.fetch_add(1, std::memory_order_relaxed);
  job_ns_.fetch_add((uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t0).count(), std::memory_order_relaxed);
  wait_ns_.fetch_add((uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count(), std::memory_order_relaxed);
}

ThreadPool::Stats ThreadPool::stats() const {
  Stats s;
  s.jobs = jobs_.load();
  s.inline_jobs = inline_jobs_.load();
  s.job_ns = job_ns_.load();
  s.wait_ns = wait_ns_.load();
  s.wakeups = wakeups_.load();
  s.blocked_waits = blocked_waits_.load();
  return s;
}

void ThreadPool::reset_stats() {
  for (auto* c : {&jobs_, &inline_jobs_, &job_ns_, &wait_ns_, &wakeups_, &blocked_waits_}) c->store(0);
}

void ThreadPool::worker_main(int thread) {
#ifdef __APPLE__
  // Without a QoS class macOS may park pool threads on the efficiency cores; USER_INITIATED
  // keeps them on the performance cores (cpu.cc counts only those: hw.perflevel0).
  pthread_set_qos_class_self_np(QOS_CLASS_USER_INITIATED, 0);
#endif
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load();
    if (gen == seen) {
      const auto until = std::chrono::steady_clock::now() + kSpin;
      // Yielding as it spins lets another thread runnable on this core (V8's compiler and GC
      // helpers, on two vCPUs) run now, between jobs, instead of preempting a task at the next
      // scheduler tick; tiny-kimi's steps over twice the median took 13-19 % of decode time, 3-9 %
      // with the yield.
      for (int spins = 0; gen == seen; ++spins) {
        MLXK_PAUSE();
        gen = generation_.load();
        if ((spins & 63) == 63) {
          if (std::chrono::steady_clock::now() > until) break;
          std::this_thread::yield();
        }
      }
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      sleeping_.fetch_sub(1);
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      gen = generation_.load();
    }
    seen = gen;
    if (stop_.load()) return;
    work(gen, thread);
  }
}

}  // namespace mlxk

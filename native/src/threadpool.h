// A persistent pool: threads-1 workers plus the calling thread run the tasks of one
// job, claimed one at a time from an atomic counter (a core slowed by a neighbour's
// load simply takes fewer tasks). The counter carries the job's generation, so a
// worker that wakes late can never claim a task of a newer job by mistake, and the
// caller waits for the job's tasks to finish, never for idle workers to wake up
// (waking a sleeping vCPU can take a millisecond). Workers spin about a millisecond
// after a job so back-to-back kernels (one per layer in decode) find them awake, yielding
// as they spin; a caller whose wait for the last tasks outlasts a few of its own (at most a
// millisecond) blocks (threadpool.cc says why; tools/pool-check.cc tests both).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mlxk {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return (int)workers_.size() + 1; }

  /**
   * Calls fn(task, thread) for every task in [0, tasks); thread is in [0, size()). `alone`: the
   * calling thread runs them all (a job too small to pay for publishing it and waiting for the
   * workers, whose tasks may still be split for other reasons, e.g. per expert).
   */
  template <class F>
  void run(int64_t tasks, F&& fn, bool alone = false) {
    auto call = [](void* ctx, int64_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); };
    run_raw(tasks, call, &fn, alone);
  }

  /** Counters since the last reset (benchmarks/profile-decode.ts reads them). */
  struct Stats {
    uint64_t jobs = 0;         // run() calls that used the workers
    uint64_t inline_jobs = 0;  // run() calls done on the caller alone (one task, no workers, or `alone`)
    uint64_t job_ns = 0;       // wall time inside those jobs
    uint64_t wait_ns = 0;      // the caller's wait for other threads after its own last task
    uint64_t wakeups = 0;      // workers woken from sleep (not found spinning)
    uint64_t blocked_waits = 0;  // jobs whose caller stopped spinning and blocked for the last tasks
  };
  Stats stats() const;
  void reset_stats();

  /** A 64-byte aligned buffer of at least `bytes` owned by thread `thread`; valid until the next call. */
  void* scratch(int thread, size_t bytes);

 private:
  using TaskFn = void (*)(void*, int64_t, int);
  void run_raw(int64_t tasks, TaskFn fn, void* ctx, bool alone);
  int64_t work(uint64_t generation, int thread);
  void worker_main(int thread);

  std::vector<std::thread> workers_;
  std::vector<std::vector<uint64_t>> scratch_;  // uint64 storage, aligned up to 64 bytes on use
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  // (generation << 32) | next task index of the current job.
  std::atomic<uint64_t> counter_{0};
  std::atomic<int64_t> tasks_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  // The caller blocked for the job's last tasks (see run_raw), and what wakes it.
  std::atomic<bool> caller_waiting_{false};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> jobs_{0}, inline_jobs_{0}, job_ns_{0}, wait_ns_{0}, wakeups_{0}, blocked_waits_{0};
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace mlxk

// The kernels' thread pool (native/src/threadpool.cc) on its own, for test/native/pool.test.ts:
// every task of every job runs exactly once, through jobs of 1-40 tasks some of whose tasks stall
// (as a preempted worker's do); and a caller whose job waits on a stalled worker's task stops
// spinning and blocks (its own CPU time stays small) until the worker's notify wakes it, within
// about a millisecond even when its own task ran long.
//   g++ -std=c++17 -O2 -pthread -Inative/src tools/pool-check.cc native/src/threadpool.cc -o pool-check && ./pool-check
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "threadpool.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what);
    ++failures;
  }
}

double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void every_task_once() {
  mlxk::ThreadPool pool(3);
  std::mt19937 rand(12345);
  std::vector<std::atomic<int>> runs(40);
  int64_t stalls = 0;
  for (int job = 0; job < 4000; ++job) {
    const int tasks = 1 + (int)(rand() % 40);
    const int stall = rand() % 16 == 0 ? (int)(rand() % tasks) : -1;  // one task in 1/16 of the jobs sleeps 0.3 ms
    stalls += stall >= 0;
    for (auto& r : runs) r.store(0);
    pool.run(tasks, [&](int64_t task, int) {
      if (task == stall) std::this_thread::sleep_for(std::chrono::microseconds(300));
      runs[(size_t)task].fetch_add(1);
    });
    for (int t = 0; t < 40; ++t)
      if (runs[(size_t)t].load() != (t < tasks ? 1 : 0)) {
        std::printf("FAIL: job %d task %d ran %d times (tasks %d)\n", job, t, runs[(size_t)t].load(), tasks);
        ++failures;
        return;
      }
  }
  std::printf("every task once: 4000 jobs (%lld with a stalled task), %llu waits blocked\n", (long long)stalls,
              (unsigned long long)pool.stats().blocked_waits);
}

void caller_blocks_for_a_stalled_worker() {
  mlxk::ThreadPool pool(2);
  int blocked_jobs = 0, tries = 0;
  double worst_cpu = 0;
  // The worker must claim one of the two tasks while the caller runs the other; a task claimed by
  // the worker sleeps 30 ms. Retried until that happened in 3 jobs (the caller may take both if the
  // worker is slow to start).
  while (blocked_jobs < 3 && tries++ < 200) {
    const uint64_t before = pool.stats().blocked_waits;
    std::atomic<bool> worker_slept{false};
    const double cpu0 = thread_cpu_ms();
    pool.run(2, [&](int64_t, int thread) {
      if (thread == 0) {
        // Long enough for the worker to claim the other task.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        while (!worker_slept.load() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        return;
      }
      worker_slept.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    });
    const double cpu = thread_cpu_ms() - cpu0;
    if (!worker_slept.load()) {
      expect(pool.stats().blocked_waits == before, "a job the caller ran alone blocked");
      continue;
    }
    ++blocked_jobs;
    expect(pool.stats().blocked_waits == before + 1, "the caller did not block for the stalled worker's task");
    if (cpu > worst_cpu) worst_cpu = cpu;
  }
  expect(blocked_jobs == 3, "the worker never took a task in 200 jobs");
  // Spinning through the 30 ms would cost ~30 ms of this thread's CPU.
  expect(worst_cpu < 10, "the caller spent its CPU waiting instead of blocking");
  std::printf("stalled worker: %d jobs blocked, the caller's CPU during each at most %.2f ms\n", blocked_jobs, worst_cpu);
}

// The caller's patience scales with its own tasks, but is capped: here its task runs 6 ms (as one
// preempted for a scheduler tick looks), and it must still block within about a millisecond of
// finishing it, not spin three task-lengths (18 ms).
void patience_is_capped() {
  mlxk::ThreadPool pool(2);
  int blocked_jobs = 0, tries = 0;
  double worst_spin = 0;
  while (blocked_jobs < 2 && tries++ < 200) {
    std::atomic<bool> worker_slept{false};
    double own_cpu = 0;
    const double cpu0 = thread_cpu_ms();
    pool.run(2, [&](int64_t, int thread) {
      if (thread == 0) {
        const double start = thread_cpu_ms();
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(6);
        while (std::chrono::steady_clock::now() < until) {
        }
        own_cpu = thread_cpu_ms() - start;
        return;
      }
      worker_slept.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    });
    const double spin = thread_cpu_ms() - cpu0 - own_cpu;
    if (!worker_slept.load()) continue;
    ++blocked_jobs;
    if (spin > worst_spin) worst_spin = spin;
  }
  expect(blocked_jobs == 2, "the worker never took a task in 200 jobs");
  expect(worst_spin < 4, "after a long task of its own the caller spun instead of blocking");
  std::printf("capped patience: %d jobs blocked, the caller's CPU beyond its own task at most %.2f ms\n", blocked_jobs, worst_spin);
}

}  // namespace

int main() {
  every_task_once();
  caller_blocks_for_a_stalled_worker();
  patience_is_capped();
  std::printf(failures ? "pool check: %d failed\n" : "pool check: all passed\n", failures);
  return failures ? 1 : 0;
}

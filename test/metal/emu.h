// Runs a Metal compute grid on the CPU: threadgroups one after another, each threadgroup's threads
// as fibers on their own stacks. A fiber runs until it reaches a rendezvous point — simd_sum
// (all 32 lanes of its simdgroup) or threadgroup_barrier (every thread of the threadgroup) — or
// ends; the scheduler then completes whichever rendezvous is full and resumes those threads in
// order. Fibers run in thread order, so a missing barrier shows up as a deterministic race: thread 0
// runs ahead and overwrites threadgroup memory the others have not read yet. A rendezvous that can
// never fill (threads diverging around simd_sum or a barrier) is reported as an error.
// Context switches are a few instructions of x86-64 assembly (ucontext's swapcontext makes a
// signal-mask syscall per switch, ~10× slower).
#pragma once
// Standard headers first: the shim's address-space macros (device, constant, thread) must not
// reach them.
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <metal_stdlib>

#if !defined(__x86_64__)
#error "the Metal emulator's context switch is written for x86-64"
#endif

namespace emu {

struct Ids {
  uint3 tg;   // threadgroup_position_in_grid
  uint3 tid;  // thread_position_in_threadgroup
  uint simd;  // simdgroup_index_in_threadgroup
  uint lane;  // thread_index_in_simdgroup
};

enum class Wait { run, simd, barrier, done };

struct Fiber {
  void* sp = nullptr;
  Wait wait = Wait::run;
  float value = 0, result = 0;
  Ids ids{};
};

}  // namespace emu

extern "C" void emu_switch(void** save_sp, void* load_sp);
extern "C" void emu_trampoline();
extern "C" void emu_fiber_main(emu::Fiber* f);

asm(R"(
  .text
  .globl emu_switch
  .type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .globl emu_trampoline
  .type emu_trampoline,@function
emu_trampoline:
  movq %rbx, %rdi
  call emu_fiber_main
  ud2
)");

namespace emu {

constexpr size_t kStack = 64 * 1024;

struct Run {
  std::vector<Fiber> fibers;
  std::vector<char> stacks;
  void* main_sp = nullptr;
  Fiber* current = nullptr;
  const std::function<void(const Ids&)>* body = nullptr;
};

inline Run& run() {
  static Run r;
  return r;
}

inline void yield(Wait w) {
  Run& r = run();
  Fiber* f = r.current;
  f->wait = w;
  emu_switch(&f->sp, r.main_sp);
}

/** Runs `kernel(ids)` for every thread of a grid of `grid` threadgroups of `group` threads. */
inline void launch(uint3 grid, uint3 group, const std::function<void(const Ids&)>& kernel) {
  Run& r = run();
  const uint n = group.x * group.y * group.z;
  if (n == 0 || n % 32 != 0) throw std::runtime_error("threadgroup size must be a positive multiple of 32");
  r.fibers.assign(n, Fiber{});
  r.stacks.resize((size_t)n * kStack);
  r.body = &kernel;
  for (uint gz = 0; gz < grid.z; ++gz)
    for (uint gy = 0; gy < grid.y; ++gy)
      for (uint gx = 0; gx < grid.x; ++gx) {
        for (uint t = 0; t < n; ++t) {
          Fiber& f = r.fibers[t];
          f = Fiber{};
          f.ids = {{gx, gy, gz}, {t % group.x, (t / group.x) % group.y, t / (group.x * group.y)}, t / 32, t % 32};
          uintptr_t top = (uintptr_t)(r.stacks.data() + (size_t)(t + 1) * kStack) & ~(uintptr_t)15;
          void** sp = (void**)top;
          *--sp = (void*)&emu_trampoline;                  // ret target
          *--sp = nullptr;                                  // rbp
          *--sp = &f;                                       // rbx: the fiber, moved to rdi
          for (int i = 0; i < 4; ++i) *--sp = nullptr;      // r12..r15
          f.sp = sp;
        }
        for (;;) {
          for (Fiber& f : r.fibers) {
            if (f.wait != Wait::run) continue;
            r.current = &f;
            emu_switch(&r.main_sp, f.sp);
          }
          bool all_done = true, all_barrier = true, resolved = false;
          for (const Fiber& f : r.fibers) {
            all_done &= f.wait == Wait::done;
            all_barrier &= f.wait == Wait::barrier;
          }
          if (all_done) break;
          for (uint s = 0; s < n / 32; ++s) {
            Fiber* lanes = &r.fibers[s * 32];
            bool full = true;
            for (int l = 0; l < 32; ++l) full &= lanes[l].wait == Wait::simd;
            if (!full) continue;
            // Butterfly order, as a shuffle-xor reduction would add.
            float v[32];
            for (int l = 0; l < 32; ++l) v[l] = lanes[l].value;
            for (int w = 16; w >= 1; w /= 2)
              for (int l = 0; l < w; ++l) v[l] = v[l] + v[l + w];
            for (int l = 0; l < 32; ++l) {
              lanes[l].result = v[0];
              lanes[l].wait = Wait::run;
            }
            resolved = true;
          }
          if (resolved) continue;
          if (all_barrier) {
            for (Fiber& f : r.fibers) f.wait = Wait::run;
            continue;
          }
          throw std::runtime_error("threadgroup (" + std::to_string(gx) + "," + std::to_string(gy) + "," + std::to_string(gz) +
                                   "): threads wait at a simd_sum or barrier that not all of them reach (divergent sync)");
        }
      }
}

}  // namespace emu

extern "C" void emu_fiber_main(emu::Fiber* f) {
  (*emu::run().body)(f->ids);
  emu::yield(emu::Wait::done);
}

namespace metal {
float simd_sum(float v) {
  emu::Fiber* f = emu::run().current;
  f->value = v;
  emu::yield(emu::Wait::simd);
  return f->result;
}
void threadgroup_barrier(mem_flags) { emu::yield(emu::Wait::barrier); }
}  // namespace metal

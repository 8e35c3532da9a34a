#include "cpu.h"

#include <set>
#include <thread>
#include <utility>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sched.h>

#include <fstream>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace mlxk {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
struct X86Features {
  bool avx2 = false, fma = false, f16c = false, avx512 = false;
};

X86Features detect_x86() {
  X86Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (!osxsave) return f;
  unsigned xlo, xhi;
  __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm_state = (xlo & 0x6) == 0x6;
  const bool zmm_state = (xlo & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = ymm_state && (b & (1u << 5));
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
  const bool vbmi = c & (1u << 1), vnni = c & (1u << 11);
  f.avx512 = zmm_state && f.avx2 && f.fma && f.f16c && avx512f && avx512dq && avx512bw && avx512vl && vbmi && vnni;
  return f;
}
#endif

}  // namespace

std::vector<const Kernels*> supported_kernels() {
  std::vector<const Kernels*> out;
#if defined(__x86_64__) || defined(_M_X64)
  const X86Features f = detect_x86();
  if (f.avx512) out.push_back(&avx512_kernels());
  if (f.avx2 && f.fma && f.f16c) out.push_back(&avx2_kernels());
#endif
#if defined(__aarch64__)
#if defined(__linux__)
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) out.push_back(&neon_kernels());
#else
  out.push_back(&neon_kernels());  // every Apple Silicon core has the dot-product extension
#endif
#endif
  out.push_back(&scalar_kernels());
  return out;
}

const Kernels* kernels_by_name(const std::string& name) {
  const auto all = supported_kernels();
  if (name == "auto") return all.front();
  for (const Kernels* k : all)
    if (name == k->name) return k;
  return nullptr;
}

int physical_cores() {
  int logical = (int)std::thread::hardware_concurrency();
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    std::set<std::pair<int, int>> cores;
    int allowed = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      ++allowed;
      const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
      std::ifstream core(base + "core_id"), pkg(base + "physical_package_id");
      int core_id = -1, pkg_id = -1;
      if (core >> core_id && pkg >> pkg_id) cores.insert({pkg_id, core_id});
      else cores.insert({-1, cpu});
    }
    if (!cores.empty()) return (int)cores.size();
    if (allowed > 0) return allowed;
  }
#elif defined(__APPLE__)
  int n = 0;
  size_t len = sizeof(n);
  // Performance cores only: the efficiency cores would make every parallel kernel wait for them.
  if (sysctlbyname("hw.perflevel0.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;
  if (sysctlbyname("hw.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;
#endif
  return logical > 0 ? logical : 1;
}

}  // namespace mlxk

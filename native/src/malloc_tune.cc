// The C allocator's policy for long-running processes (`mlxk serve`). glibc raises its mmap
// threshold to the size of each mmapped block that is freed (the "dynamic threshold", up to
// 32 MiB; see glibc malloc/malloc.c, M_MMAP_THRESHOLD), so after the first KV buffer of a few
// hundred KiB is released every later one comes from the heap, where freed buffers leave holes
// that stay resident: the prompt cache's evicted entries then never leave the process's RSS
// (measured: resident growth 1.14× the cache's count at a 256 MiB cap, 1.05× with a fixed
// threshold; benchmarks/results/soak.md). Setting the threshold explicitly turns the dynamic
// adjustment off, so large buffers are always their own mappings and go back when freed.
#include "malloc_tune.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mlxk {

bool fix_mmap_threshold(size_t bytes) {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1;
#else
  (void)bytes;
  return false;
#endif
}

}  // namespace mlxk

// The C allocator's policy (malloc_tune.cc): glibc only; elsewhere it does nothing and returns false.
#pragma once
#include <cstddef>

namespace mlxk {

// Blocks of at least `bytes` are mmapped (and unmapped when freed) from now on; glibc's dynamic
// threshold is off. True when the allocator took it.
bool fix_mmap_threshold(size_t bytes);

}  // namespace mlxk

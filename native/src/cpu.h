// Run-time CPU facts: which kernel set this CPU can run, and how many physical cores it has.
#pragma once
#include <string>
#include <vector>

#include "kernels.h"

namespace mlxk {

/** Kernel sets this CPU supports, fastest first; "scalar" is always last. */
std::vector<const Kernels*> supported_kernels();

/** The kernel set named `name` ("auto" = fastest supported), or nullptr if unsupported here. */
const Kernels* kernels_by_name(const std::string& name);

/** Physical cores available to this process (hyperthread siblings counted once). */
int physical_cores();

}  // namespace mlxk

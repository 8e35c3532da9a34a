#!/usr/bin/env bash
# Builds tools/attend-check.cc with every x86 kernel set and runs it for one of them (default
# avx512) against the portable attention, on this machine: for a kernel set CI's machine lacks, run
# it where the set exists.
# Usage: tools/check-attend.sh [avx512|avx2]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The flags binding.gyp gives each set.
common=(-std=c++17 -O3 -fno-strict-aliasing -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Inative/include -Inative/src)
avx2=(-mavx2 -mfma -mf16c)
avx512=("${avx2[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mprefer-vector-width=512 -Wno-uninitialized -Wno-maybe-uninitialized)
objs=()
for f in kernels_avx2 kernels_avx2_gemv kernels_avx2_attend kernels_avx2_dense; do
  g++ "${common[@]}" "${avx2[@]}" -c "native/src/$f.cc" -o "$out/$f.o" && objs+=("$out/$f.o")
done
for f in kernels_avx512 kernels_avx512_gemv kernels_avx512_gemm kernels_avx512_attend; do
  g++ "${common[@]}" "${avx512[@]}" -c "native/src/$f.cc" -o "$out/$f.o" && objs+=("$out/$f.o")
done
g++ "${common[@]}" tools/attend-check.cc native/src/kernels_scalar.cc native/src/cpu.cc "${objs[@]}" -o "$out/attend-check"
"$out/attend-check" "${1:-avx512}"

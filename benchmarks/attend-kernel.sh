#!/usr/bin/env bash
# Times one set's decode attention (benchmarks/attend-kernel.cc) on one core: avx512, avx2 or
# portable (kernels_scalar.cc, built as binding.gyp builds it: GCC clones it for AVX2/AVX-512), and optionally
# another version of its source file beside it, alternated: e.g. on an AVX-512 machine
#   git show REV:native/src/kernels_avx512_attend.cc > /tmp/old.cc   (where the repository is)
#   benchmarks/attend-kernel.sh avx512 /tmp/old.cc
# Usage: benchmarks/attend-kernel.sh avx512|avx2|portable [OTHER_SOURCE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:?usage: benchmarks/attend-kernel.sh avx512|avx2|portable [OTHER_SOURCE] [ROUNDS]}
other=${2:-}
rounds=${3:-2}
flags=(-std=c++17 -O3 -fno-strict-aliasing -ffp-contract=off -Inative/include -Inative/src)
case "$set_name" in
  avx2) flags+=(-mavx2 -mfma -mf16c) src=native/src/kernels_avx2_attend.cc ;;
  avx512) flags+=(-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mprefer-vector-width=512)
    src=native/src/kernels_avx512_attend.cc ;;
  portable) flags+=(-DATTEND_PORTABLE) src=native/src/kernels_scalar.cc ;;
  *) echo "attend-kernel: no kernel set '$set_name' (avx512, avx2, portable)" >&2; exit 2 ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The portable file is the one under test or its other version; a SIMD set links the current one.
build() {
  local under_test=$1 exe=$2
  if [ "$set_name" = portable ]; then
    g++ "${flags[@]}" benchmarks/attend-kernel.cc "$under_test" -o "$exe"
  else
    g++ "${flags[@]}" -DATTEND_SET="$set_name" benchmarks/attend-kernel.cc "$under_test" native/src/kernels_scalar.cc -o "$exe"
  fi
}
build "$src" "$out/this"
[ -n "$other" ] && build "$other" "$out/other"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < rounds; i++)); do
  [ -n "$other" ] && taskset -c 1 "$out/other" other
  taskset -c 1 "$out/this" this
done

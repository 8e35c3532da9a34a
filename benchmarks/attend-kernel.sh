#!/usr/bin/env bash
# Times one x86 set's decode attention (benchmarks/attend-kernel.cc) on one core, and optionally
# another version of its source file beside it, alternated: e.g. on an AVX-512 machine
#   git show REV:native/src/kernels_avx512_attend.cc > /tmp/old.cc   (where the repository is)
#   benchmarks/attend-kernel.sh avx512 /tmp/old.cc
# Usage: benchmarks/attend-kernel.sh avx512|avx2 [OTHER_SOURCE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:?usage: benchmarks/attend-kernel.sh avx512|avx2 [OTHER_SOURCE] [ROUNDS]}
other=${2:-}
rounds=${3:-2}
flags=(-std=c++17 -O3 -fno-strict-aliasing -ffp-contract=off -Inative/include -Inative/src -mavx2 -mfma -mf16c)
[ "$set_name" = avx512 ] && flags+=(-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mprefer-vector-width=512)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ "${flags[@]}" -DATTEND_SET="$set_name" benchmarks/attend-kernel.cc "native/src/kernels_${set_name}_attend.cc" native/src/kernels_scalar.cc -o "$out/this"
[ -n "$other" ] && g++ "${flags[@]}" -DATTEND_SET="$set_name" benchmarks/attend-kernel.cc "$other" native/src/kernels_scalar.cc -o "$out/other"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < rounds; i++)); do
  [ -n "$other" ] && taskset -c 1 "$out/other" other
  taskset -c 1 "$out/this" this
done

#!/usr/bin/env bash
# Times benchmarks/mqa-attention.cc built against native/src, and optionally against another copy
# of the native sources (e.g. `git archive REV native/src | tar -x -C /tmp/old`, then /tmp/old/native/src)
# beside it, alternated. x86-64 only (the AVX2 and AVX-512 sets are built as binding.gyp builds them).
# Usage: [COLD=1] benchmarks/mqa-attention.sh [OTHER_SRC] [ROUNDS] [THREADS...]
set -euo pipefail
cd "$(dirname "$0")/.."
other=${1:-}
rounds=${2:-2}
shift $(($# < 2 ? $# : 2))
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 4 8 16)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build() {
  local src=$1 exe=$2 o
  o=$(mktemp -d -p "$out")
  local f=(-std=c++17 -O3 -fno-strict-aliasing -ffp-contract=off -Inative/include -I"$src")
  local a2=(-mavx2 -mfma -mf16c)
  local a5=("${a2[@]}" -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mprefer-vector-width=512)
  for x in cpu dispatch threadpool model_ops kernels_scalar; do g++ "${f[@]}" -c "$src/$x.cc" -o "$o/$x.o" & done
  for x in kernels_avx2 kernels_avx2_attend kernels_avx2_dense kernels_avx2_gemv; do g++ "${f[@]}" "${a2[@]}" -c "$src/$x.cc" -o "$o/$x.o" & done
  for x in kernels_avx512 kernels_avx512_attend kernels_avx512_gemm kernels_avx512_gemv; do g++ "${f[@]}" "${a5[@]}" -c "$src/$x.cc" -o "$o/$x.o" & done
  wait
  g++ "${f[@]}" benchmarks/mqa-attention.cc "$o"/*.o -lpthread -o "$exe"
}
build native/src "$out/this"
[ -n "$other" ] && build "$other" "$out/other"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < rounds; i++)); do
  [ -n "$other" ] && "$out/other" other "${threads[@]}"
  "$out/this" this "${threads[@]}"
done

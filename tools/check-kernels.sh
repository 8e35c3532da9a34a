#!/usr/bin/env bash
# Builds tools/kernel-check.cc with one SIMD kernel set and the scalar set and runs it: for the
# sets the machine running CI lacks.
#   neon            cross-compiled for arm64, run under qemu-aarch64
#                   (sudo apt-get install g++-aarch64-linux-gnu qemu-user)
#   avx512          on any x86-64 CPU with AVX2: the AVX-512 files compiled with every _mm512_*
#                   intrinsic emulated by SIMDe (tools/avx512-emulated.h; sudo apt-get install libsimde-dev)
#   avx512-native   the AVX-512 files as binding.gyp builds them, on a CPU that has AVX-512
# Usage: tools/check-kernels.sh neon|avx512|avx512-native
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:-}
need() { command -v "$1" > /dev/null || { echo "check-kernels: $1 not found; $2" >&2; exit 2; }; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# binding.gyp's flags for every set.
common=(-std=c++17 -O3 -fno-strict-aliasing -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Inative/include -Inative/src)
x86=(-mavx2 -mfma -mf16c)
avx512=(-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mprefer-vector-width=512 -Wno-uninitialized -Wno-maybe-uninitialized)
avx512_files=(kernels_avx512 kernels_avx512_gemv kernels_avx512_gemm kernels_avx512_attend)
case "$set_name" in
  neon)
    need aarch64-linux-gnu-g++ "sudo apt-get install g++-aarch64-linux-gnu"
    need qemu-aarch64 "sudo apt-get install qemu-user"
    # -static so qemu needs no arm64 sysroot.
    aarch64-linux-gnu-g++ "${common[@]}" -march=armv8.2-a+dotprod -DCHECKED_SET=neon tools/kernel-check.cc \
      native/src/kernels_neon.cc native/src/kernels_scalar.cc -static -o "$out/kernel-check"
    exec_cmd=(qemu-aarch64 -cpu max "$out/kernel-check")
    ;;
  avx512 | avx512-native)
    flags=("${x86[@]}" "${avx512[@]}")
    if [ "$set_name" = avx512 ]; then
      [ -f /usr/include/simde/x86/avx512.h ] || { echo "check-kernels: SIMDe not found; sudo apt-get install libsimde-dev" >&2; exit 2; }
      grep -q ' avx2 ' /proc/cpuinfo || { echo "check-kernels: the emulated AVX-512 set needs a CPU with AVX2" >&2; exit 2; }
      # SIMDe's portable code vectorizes with -O2 as well as -O3 and compiles several times faster.
      flags=("${x86[@]}" -O2 -Wno-unused-function -Wno-psabi -include tools/avx512-emulated.h)
    elif ! grep -q ' avx512vbmi ' /proc/cpuinfo || ! grep -q ' avx512_vnni ' /proc/cpuinfo; then
      echo "check-kernels: this CPU lacks AVX-512 (VBMI, VNNI); use 'avx512' for the emulated check" >&2
      exit 2
    fi
    objs=()
    for f in "${avx512_files[@]}"; do
      g++ "${common[@]}" "${flags[@]}" -c "native/src/$f.cc" -o "$out/$f.o" &
      objs+=("$out/$f.o")
    done
    wait
    g++ "${common[@]}" "${x86[@]}" -DCHECKED_SET=avx512 tools/kernel-check.cc native/src/kernels_scalar.cc "${objs[@]}" -o "$out/kernel-check"
    exec_cmd=("$out/kernel-check")
    ;;
  *)
    echo "usage: tools/check-kernels.sh neon|avx512|avx512-native" >&2
    exit 2
    ;;
esac
"${exec_cmd[@]}"

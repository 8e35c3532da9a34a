#!/usr/bin/env bash
# Builds tools/neon-check.cc with the NEON and scalar kernel sets for arm64 and runs it under
# qemu-aarch64 (no arm64 machine here; Apple Silicon builds the same file with `npm ci`).
# Needs: sudo apt-get install g++-aarch64-linux-gnu qemu-user
# Usage: tools/check-neon.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" > /dev/null || { echo "check-neon: $tool not found; sudo apt-get install g++-aarch64-linux-gnu qemu-user" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The flags binding.gyp gives the NEON set, plus -static so qemu needs no arm64 sysroot.
aarch64-linux-gnu-g++ -std=c++17 -O3 -ffp-contract=off -march=armv8.2-a+dotprod -Wall -Wextra -Wno-unused-parameter \
  -Inative/include -Inative/src tools/neon-check.cc native/src/kernels_neon.cc native/src/kernels_scalar.cc \
  -static -o "$out/neon-check"
qemu-aarch64 -cpu max "$out/neon-check"

#!/usr/bin/env bash
# Packs the environment tools/build-mlx-lm.sh built (MLX's Python package, CPU backend, and the
# pinned mlx-lm) into vendor/, with the licences of everything compiled into it, so `npm test`
# runs the mlx-lm compatibility tests on a fresh machine without building (test/compat/env.ts
# unpacks it). Byte-reproducible for a given build: fixed order, owners and mtimes, no caches.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-/work/scratch/mlx-lm-env}
out=$here/vendor/mlx-lm-0.32.0-mlx-0.32.1-cp311-linux-x86_64.tar.xz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/mlx-lm-env
mkdir -p "$pkg/licenses"
cp -r "$DEST/site" "$pkg/site"
find "$pkg" -name __pycache__ -prune -exec rm -rf {} +
cp "$DEST/PINS" "$pkg/PINS"
# MIT: mlx, mlx-lm, robin-map, fmt (with its binary exception); BSD-3: nanobind.
for p in mlx mlx-lm fmt nanobind nanobind/ext/robin_map; do
  cp "$DEST/src/$p/LICENSE" "$pkg/licenses/$(echo "$p" | tr / -).LICENSE"
done
find "$pkg" -exec touch -h -d '1985-10-26 08:15:00Z' {} +
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='1985-10-26 08:15:00Z' \
  -C "$work" -cf - mlx-lm-env | xz -9 -T1 > "$out"
echo "wrote ${out#$here/} ($(stat -c %s "$out") bytes)"

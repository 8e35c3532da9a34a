#!/usr/bin/env bash
# The mlx-lm build vendored by tools/pack-mlx-lm.sh (MLX 0.32.1 CPU + mlx-lm 0.32.0, CPython 3.11,
# Linux x64), unpacked once under node_modules/.cache/mlxk. Without arguments prints the PYTHONPATH
# that makes it importable (with test/compat/pystub standing in for transformers and
# huggingface_hub, which mlx_lm imports but never uses here); with arguments runs them under it:
#   tools/vendored-mlx-lm.sh ./bin/mlxk serve models/tiny-kimi --engine mlx-lm
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
name=mlx-lm-0.32.0-mlx-0.32.1-cp311-linux-x86_64
cache=$repo/node_modules/.cache/mlxk
site=$cache/$name/site
if [ ! -d "$site" ]; then
  mkdir -p "$cache"
  # Unpacked beside the target and renamed, so a concurrent reader never sees half a tree.
  tmp=$(mktemp -d "$cache/unpack-XXXXXX")
  tar -xJf "$repo/vendor/$name.tar.xz" -C "$tmp"
  mv -T "$tmp/mlx-lm-env" "$cache/$name" 2>/dev/null || true
  rm -rf "$tmp"
fi
path=$site:$repo/test/compat/pystub
if [ $# -eq 0 ]; then echo "$path"; exit 0; fi
PYTHONPATH=$path${PYTHONPATH:+:$PYTHONPATH} exec "$@"

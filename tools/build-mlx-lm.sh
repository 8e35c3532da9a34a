#!/usr/bin/env bash
# Builds MLX's Python package (CPU backend, Debian OpenBLAS/LAPACK) and installs a
# pinned mlx-lm into a scratch folder, offline, from local git mirrors.
# Needs: apt packages libopenblas-dev liblapacke-dev nlohmann-json3-dev cmake ninja-build
# python3-dev; mirrors of ml-explore/mlx, ml-explore/mlx-lm, wjakob/nanobind,
# Tessil/robin-map, fmtlib/fmt under $MIRRORS (default /work/.mirror). Ends by packing the
# result into vendor/ (tools/pack-mlx-lm.sh), which is what the tests use.
set -euo pipefail
DEST=${1:-/work/scratch/mlx-lm-env}
MIRRORS=${MIRRORS:-/work/.mirror}
MLX_COMMIT=3a6219917e4535575ce5bce2fc2ba27a483a709b       # mlx v0.32.1
MLX_LM_COMMIT=d78bf58e217c904ec282ed8da9b947491f78c022    # mlx-lm 0.32.0 (main, 2026-08-22)
NANOBIND_COMMIT=e2dc00f7a34f935c6cf91948776d59c4709e9fe6  # nanobind v2.13.0 (MLX's pin)
ROBIN_MAP_COMMIT=4ec1bf19c6a96125ea22062f38c2cf5b958e448e # nanobind's submodule pin
FMT_COMMIT=407c905e45ad75fc29bf0f9bb7c5c2fd3475976f       # fmt 12.1.0 (MLX's pin)
PY=${PYTHON:-python3}
JOBS=${JOBS:-2}

src=$DEST/src; build=$DEST/build; site=$DEST/site
mkdir -p "$src" "$build" "$site"
export_tree() { # mirror commit dir
  rm -rf "$3"; mkdir -p "$3"
  git --git-dir="$MIRRORS/$1/repo" archive "$2" | tar -x -C "$3"
}
export_tree ml-explore+mlx "$MLX_COMMIT" "$src/mlx"
export_tree ml-explore+mlx-lm "$MLX_LM_COMMIT" "$src/mlx-lm"
export_tree wjakob+nanobind "$NANOBIND_COMMIT" "$src/nanobind"
export_tree Tessil+robin-map "$ROBIN_MAP_COMMIT" "$src/nanobind/ext/robin_map"
export_tree fmtlib+fmt "$FMT_COMMIT" "$src/fmt"
# nlohmann/json from Debian: MLX only adds <src>/single_include/nlohmann to the include path.
mkdir -p "$src/json/single_include"; ln -sfn /usr/include/nlohmann "$src/json/single_include/nlohmann"

cmake -S "$src/mlx" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$(command -v "$PY")" \
  -DMLX_BUILD_PYTHON_BINDINGS=ON -DMLX_BUILD_PYTHON_STUBS=OFF \
  -DMLX_BUILD_TESTS=OFF -DMLX_BUILD_EXAMPLES=OFF -DMLX_BUILD_BENCHMARKS=OFF \
  -DMLX_BUILD_METAL=OFF -DMLX_BUILD_CPU=ON -DMLX_BUILD_GGUF=OFF -DMLX_USE_CCACHE=OFF \
  -DMLX_VERSION=0.32.1 \
  -DMLX_PYTHON_BINDINGS_OUTPUT_DIRECTORY="$site/mlx" \
  -DCMAKE_INSTALL_PREFIX="$site/mlx" \
  -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
  -DFETCHCONTENT_SOURCE_DIR_NANOBIND="$src/nanobind" \
  -DFETCHCONTENT_SOURCE_DIR_FMT="$src/fmt" \
  -DFETCHCONTENT_SOURCE_DIR_JSON="$src/json"
nice -n 10 cmake --build "$build" --target core -j "$JOBS"
# The pure-Python half of the package next to the built extension.
cp -r "$src/mlx/python/mlx/." "$site/mlx/"
rm -rf "$site/mlx_lm"; cp -r "$src/mlx-lm/mlx_lm" "$site/mlx_lm"
cat > "$DEST/PINS" <<PINS
mlx $MLX_COMMIT (v0.32.1, CPU backend, Debian OpenBLAS/LAPACK)
mlx-lm $MLX_LM_COMMIT (0.32.0)
nanobind $NANOBIND_COMMIT, robin-map $ROBIN_MAP_COMMIT, fmt $FMT_COMMIT
python $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')
PINS
PYTHONPATH="$site" "$PY" -c 'import mlx.core as mx; print("mlx", mx.__version__, mx.default_device())'
echo "built into $site (PYTHONPATH=$site)"
"$(dirname "$0")/pack-mlx-lm.sh" "$DEST"

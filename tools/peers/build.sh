#!/usr/bin/env bash
# Builds the peer engines (mainline llama.cpp, ik_llama.cpp) from public source
# into a scratch folder outside the repo: CPU only, Release, `-j 2`.
# Offline once the sources are present: the search tool's `fetch` brings each
# repository's git directory to /work/.mirror/<owner>+<name>/repo (override with
# LLAMA_GIT / IK_GIT); this script only runs `git archive` of the pinned commit.
#
#   tools/peers/build.sh [mainline|ik|all]      (default all)
#   PEERS=/work/scratch/peers                   (default)
#   TARGETS="llama-bench llama-quantize"         (default: every tool the scripts use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pins.sh"
PEERS=${PEERS:-/work/scratch/peers}
JOBS=${JOBS:-2}
TARGETS=${TARGETS:-"llama-imatrix llama-quantize llama-bench llama-cli llama-perplexity llama-tokenize llama-gguf-split"}

build_one() { # name git-dir commit
  local name=$1 git=$2 commit=$3 src="$PEERS/src/$1" out="$PEERS/build/$1"
  if [ ! -f "$src/.commit" ] || [ "$(cat "$src/.commit")" != "$commit" ]; then
    [ -d "$git" ] || { echo "build.sh: $git missing: fetch github:$4 first (search tool), or set ${5}_GIT" >&2; exit 2; }
    git --git-dir="$git" cat-file -e "$commit^{commit}" 2>/dev/null || { echo "build.sh: $git has no commit $commit" >&2; exit 2; }
    rm -rf "$src" && mkdir -p "$src"
    # the snapshot leaves its largest files out (vocab test GGUFs): archive what is present
    local skip=()
    while read -r path; do skip+=(":(exclude)$path"); done < <(git --git-dir="$git" ls-tree -r "$commit" \
      | awk '{print $3" "$4}' | while read -r h p; do git --git-dir="$git" cat-file -e "$h" 2>/dev/null || echo "$p"; done)
    git --git-dir="$git" archive "$commit" -- . "${skip[@]}" | tar -x -C "$src"
    echo "$commit" > "$src/.commit"
  fi
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DBUILD_SHARED_LIBS=OFF >"$out.cmake.log" 2>&1 \
    || { mkdir -p "$out"; tail -30 "$out.cmake.log" >&2; exit 1; }
  local t="" all
  all=$(ninja -C "$out" -t targets all)
  for x in $TARGETS; do grep -q "^$x:" <<<"$all" && t="$t $x"; done
  cmake --build "$out" -j "$JOBS" --target $t
  echo "$name $commit: $(ls "$out/bin" | tr '\n' ' ')"
}

mkdir -p "$PEERS/src" "$PEERS/build"
case "${1:-all}" in
  mainline) build_one mainline "$LLAMA_GIT" "$LLAMA_COMMIT" ggml-org/llama.cpp LLAMA ;;
  ik) build_one ik "$IK_GIT" "$IK_COMMIT" ikawrakow/ik_llama.cpp IK ;;
  all) build_one mainline "$LLAMA_GIT" "$LLAMA_COMMIT" ggml-org/llama.cpp LLAMA
       build_one ik "$IK_GIT" "$IK_COMMIT" ikawrakow/ik_llama.cpp IK ;;
  *) echo "usage: tools/peers/build.sh [mainline|ik|all]" >&2; exit 2 ;;
esac

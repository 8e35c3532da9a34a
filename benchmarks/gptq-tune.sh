#!/usr/bin/env bash
# Chooses GPTQ / learned-rounding settings on held-out CALIBRATION text, never on evaluation
# text: benchmarks/calib-split.mjs holds out a fifth of calib/calib.txt; each setting quantizes
# tiny-kimi against the rest (CALIB_TOKENS, default 65536, in sequences of 512) and is scored by
# perplexity, KL and top-1 against the bf16 source on every 512-token window of the held-out part,
# native backend, 16-bit activations. mse (data-free) is scored on the same windows.
# MAX_WINDOWS scores only the first N held-out windows (all by default).
# Usage: benchmarks/gptq-tune.sh OUT_DIR BITS 'NAME=FLAGS' ...
#   e.g. benchmarks/gptq-tune.sh /tmp/tune 2 'gptq=--method gptq' 'damp0.1=--method gptq --damp 0.1'
#   (leading VAR=VALUE words set the environment of that quantize run)
# writes OUT_DIR/qBITS-NAME.{quantize,ppl}.json and .time; the table: node benchmarks/gptq-table.mjs OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/gptq-tune.sh OUT_DIR BITS NAME=FLAGS ...}
bits=${2:?BITS}
shift 2
tokens=${CALIB_TOKENS:-65536}
windows=()
[ -z "${MAX_WINDOWS:-}" ] || windows=(--max-windows "$MAX_WINDOWS")
export MLXK_ACTIVATION_BITS=16
mkdir -p "$out"
node benchmarks/calib-split.mjs "$out/split"
timed() { local f=$1; shift; echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" > "$f"; /usr/bin/time -f 'wall %e s, user %U s, sys %S s, peak RSS %M KB' -a -o "$f" "$@"; echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$f"; }
for spec in mse=--method\ mse "$@"; do
  name="q$bits-${spec%%=*}"
  # shellcheck disable=SC2206
  flags=(${spec#*=})
  # Leading VAR=VALUE words are environment for that run (experimental switches).
  envs=()
  while [[ ${#flags[@]} -gt 0 && ${flags[0]} == *=* && ${flags[0]} != -* ]]; do envs+=("${flags[0]}"); flags=("${flags[@]:1}"); done
  calib=()
  [[ " ${flags[*]} " == *" --method mse "* ]] || calib=(--calib "$out/split/train.txt" --calib-tokens "$tokens" --calib-seq 512)
  [ -f "$out/$name/config.json" ] || timed "$out/$name.time" env "${envs[@]}" nice -n 5 ./bin/mlxk quantize models/tiny-kimi "$out/$name" --bits "$bits" "${flags[@]}" "${calib[@]}" -q --json > "$out/$name.quantize.json"
  [ -s "$out/$name.ppl.json" ] || nice -n 5 ./bin/mlxk perplexity "$out/$name" --data "$out/split/heldout.txt" --baseline models/tiny-kimi --backend native "${windows[@]}" -q --json > "$out/$name.ppl.json"
done
node benchmarks/gptq-table.mjs "$out"

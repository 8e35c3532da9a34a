#!/usr/bin/env bash
# GPTQ and learned rounding beside the data-free mse quantizer on the bundled tiny-kimi:
# each preset quantized at 2, 3 and 4 bits (group 64), then perplexity, ΔPPL, KL divergence
# and top-1 agreement against the bf16 source on the first WINDOWS (default all 210) 512-token
# windows of models/tiny-kimi/eval-A.txt, native backend with 16-bit activations.
# Calibration: the shipped set (`--calib default`, calib/README.md; no overlap with the
# evaluation text), CALIB_TOKENS (default 65536) tokens in sequences of 512 spread over it.
# Usage: benchmarks/gptq-quality.sh OUT_DIR [WINDOWS]   (BITS="3 2 4", METHODS="mse gptq learned"
# to choose rows; EXTRA="--damp 0.1" adds quantize flags to the calibrated methods)
# One JSON report per model (OUT_DIR/qB-M.{quantize,ppl}.json), quantize wall/CPU seconds and the
# load average in OUT_DIR/qB-M.time, and the markdown table on stdout at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/gptq-quality.sh OUT_DIR [WINDOWS]}
windows=${2:-210}
tokens=${CALIB_TOKENS:-65536}
export MLXK_ACTIVATION_BITS=16
mkdir -p "$out"
# CPU seconds next to wall seconds: the machine is shared, so wall time alone says little.
timed() { local f=$1; shift; echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" > "$f"; /usr/bin/time -f 'wall %e s, user %U s, sys %S s, peak RSS %M KB' -a -o "$f" "$@"; echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$f"; }
for bits in ${BITS:-3 2 4}; do
  for method in ${METHODS:-mse gptq learned}; do
    name="q$bits-$method"
    extra=()
    # shellcheck disable=SC2206
    [ "$method" != mse ] && extra=(--calib default --calib-tokens "$tokens" --calib-seq 512 ${EXTRA:-})
    [ -f "$out/$name/config.json" ] || timed "$out/$name.time" nice -n 5 ./bin/mlxk quantize models/tiny-kimi "$out/$name" --bits "$bits" --method "$method" "${extra[@]}" -q --json > "$out/$name.quantize.json"
    [ -s "$out/$name.ppl.json" ] || nice -n 5 ./bin/mlxk perplexity "$out/$name" --data models/tiny-kimi/eval-A.txt --baseline models/tiny-kimi --backend native --max-windows "$windows" -q --json > "$out/$name.ppl.json"
  done
done
node benchmarks/gptq-table.mjs "$out"

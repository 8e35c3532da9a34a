#!/usr/bin/env bash
# GPTQ and learned rounding beside the data-free mse quantizer on the bundled tiny-kimi:
# each preset quantized at 2, 3 and 4 bits (group 64), then perplexity, ΔPPL, KL divergence
# and top-1 agreement against the bf16 source on the first WINDOWS (default all 210) 512-token
# windows of models/tiny-kimi/eval-A.txt, native backend with 16-bit activations.
# Calibration: test/fixtures/calib/gptq-calib.txt (written for this repo; no overlap with
# the evaluation text). Usage: benchmarks/gptq-quality.sh OUT_DIR [WINDOWS] — one JSON report per model.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/gptq-quality.sh OUT_DIR [WINDOWS]}
windows=${2:-210}
export MLXK_ACTIVATION_BITS=16
mkdir -p "$out"
calib=test/fixtures/calib/gptq-calib.txt
for bits in 3 2 4; do
  for method in mse gptq learned; do
    dir="$out/q$bits-$method"
    extra=()
    [ "$method" != mse ] && extra=(--calib "$calib" --calib-seq 128)
    [ -f "$dir/config.json" ] || ./bin/mlxk quantize models/tiny-kimi "$dir" --bits "$bits" --method "$method" "${extra[@]}" -q --json > "$out/q$bits-$method.quantize.json"
    ./bin/mlxk perplexity "$dir" --data models/tiny-kimi/eval-A.txt --baseline models/tiny-kimi --backend native --max-windows "$windows" -q --json > "$out/q$bits-$method.ppl.json"
  done
done

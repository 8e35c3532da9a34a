#!/usr/bin/env bash
# Quality against size of the bundled tiny-kimi with bits allocated by measured sensitivity:
# `mlxk sensitivity` measures, on held-out calibration text (never eval-A), the KL of every
# unit under every MLX option; eval-quants then quantizes a ladder of --target-bpw recipes
# (bpwB items, each quantizer with :METHOD) beside uniform baselines, and scores all of them
# against the bf16 source on all 210 windows of models/tiny-kimi/eval-A.txt: bits per weight
# counted from the files, ΔPPL, KLD, top-1. ik_llama.cpp's points on the same windows are the
# chart's reference marks. Native backend with 16-bit activations (the quantization alone).
# The :gptq / :learned rows quantize against the shipped calibration set (--calib default,
# 65,536 tokens in sequences of 512, GPTQ damping 0.01, activation order), with the same
# allocation (the mse sensitivities) as the mse row of their band.
# Usage: benchmarks/quality-calibrated.sh   (PRESETS=… to choose rows; CALIB=… the text sensitivities are measured on; NOTE=… one more report line;
#   OUT=… the report, default benchmarks/results/quality-calibrated-tiny-kimi.md, with .json and .svg beside it)
set -euo pipefail
cd "$(dirname "$0")/.."
calib=${CALIB:-test/fixtures/calib/gptq-calib.txt}
sens=benchmarks/results/sensitivity-tiny-kimi.json
[ -f "$sens" ] || ./bin/mlxk sensitivity models/tiny-kimi --calib "$calib" -o "$sens" -q
export MLXK_ACTIVATION_BITS=16
exec ./bin/mlxk eval-quants models/tiny-kimi \
  --presets "${PRESETS:-q4:mse,q3:mse,bpw5.0,bpw4.66,bpw3.74,bpw3.11,bpw3.11:gptq,bpw3.11:learned,bpw2.66,bpw2.66:gptq,bpw2.66:learned,bpw2.3}" \
  --calib default --calib-tokens 65536 --calib-seq 512 \
  --sensitivity "$sens" --reference benchmarks/reference/ik-tiny-kimi.json \
  --data models/tiny-kimi/eval-A.txt --backend native -r 1 --decode-tokens 32 \
  --note "sensitivities: $sens (mlxk sensitivity models/tiny-kimi --calib $calib)" ${NOTE:+--note "$NOTE"} \
  -o "${OUT:-benchmarks/results/quality-calibrated-tiny-kimi.md}"

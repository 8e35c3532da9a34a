#!/usr/bin/env bash
# Quality against size of the bundled tiny-kimi (bf16 source) quantized with the
# built-in presets and three MSE variants: bits per weight, size, perplexity, ΔPPL,
# KL divergence and top-1 agreement against the source on all 210 windows of
# models/tiny-kimi/eval-A.txt, and decode speed. The mlx backend computes in float32
# on the dequantized weights, so the numbers measure the quantization alone.
# Usage: benchmarks/quality.sh   — writes benchmarks/results/quality-tiny-kimi.{md,json,svg}
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./bin/mlxk eval-quants models/tiny-kimi \
  --presets q8,q6,q4,q4:mse,mixed_4_6,mixed_3_6,q3,q3:mse,mixed_2_6,q2,q2:mse \
  --data models/tiny-kimi/eval-A.txt --backend mlx \
  -o benchmarks/results/quality-tiny-kimi.md

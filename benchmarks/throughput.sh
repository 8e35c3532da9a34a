#!/usr/bin/env bash
# Throughput in the shape users publish for Kimi quants (prompt sizes 1000/5000/10000/
# 20000, generation sizes 500/1000/2000/5000, one column per quantization) on a synthetic
# Kimi-architecture model (MLA, noaux_tc routing, shared expert): random weights (speed
# does not depend on trained values), a 32K context, 26M parameters with 2 attention heads,
# sized so the whole table (6 models × 8 sizes × 5 trials) runs in under 20 minutes on this
# 2-core machine with the default backend.
# Usage: benchmarks/throughput.sh   (WORK=dir for the models, REPS=n trials per size)
#   — writes benchmarks/results/throughput-synth-kimi.{md,json,svg}
set -euo pipefail
cd "$(dirname "$0")/.."
work=${WORK:-/tmp/mlxk-throughput}
reps=${REPS:-5}
synth=(kimi_k2 "$work/bf16" --context 32768 --layers 4 --hidden 512 --heads 2 --experts 16 --moe-intermediate 256 --intermediate 1024 --seed 0)
[ -f "$work/bf16/config.json" ] || ./bin/mlxk synth "${synth[@]}" -q --force
models=("bf16=$work/bf16")
for p in q8 q4 q3 q2 mixed_3_6; do
  [ -f "$work/$p/config.json" ] || ./bin/mlxk quantize "$work/bf16" "$work/$p" --preset "$p" -q --force > /dev/null
  models+=("$p=$work/$p")
done
./bin/mlxk bench "${models[@]}" --repetitions "$reps" \
  --note "Models made by \`benchmarks/throughput.sh\`: \`mlxk synth ${synth[*]}\` (random weights), then \`mlxk quantize $work/bf16 $work/PRESET --preset PRESET\` for q8, q4, q3, q2 and mixed_3_6." \
  -o benchmarks/results/throughput-synth-kimi.md

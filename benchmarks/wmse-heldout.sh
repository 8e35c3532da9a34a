#!/usr/bin/env bash
# Which weighting should wmse use? Measured on held-out CALIBRATION text, never on evaluation
# text: benchmarks/calib-split.mjs holds out a fifth of calib/calib.txt, `mlxk imatrix` runs over
# the rest, and tiny-kimi is quantized at each width with mse (no data) and with wmse under three
# priors (lib/quant/wmse.ts, each multiplying the imatrix: sqrt = llama.cpp's √(σ²+x²), the
# default; uniform = the imatrix alone, the Hessian diagonal; absx = |x|), then scored by perplexity, KL and top-1 against the bf16 source on
# every 512-token window of the held-out part (native backend, 16-bit activations).
# Usage: benchmarks/wmse-heldout.sh OUT_DIR [BITS...]   (default bits 2 3 4)
# writes OUT_DIR/qB-NAME.{quantize,ppl}.json and .time; the table: node benchmarks/gptq-table.mjs OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/wmse-heldout.sh OUT_DIR [BITS...]}
shift
bits=("$@")
[ $# -gt 0 ] || bits=(2 3 4)
tokens=${CALIB_TOKENS:-65536}
export MLXK_ACTIVATION_BITS=16
mkdir -p "$out"
node benchmarks/calib-split.mjs "$out/split"
imatrix="$out/train.imatrix.gguf"
[ -s "$imatrix" ] || nice -n 5 ./bin/mlxk imatrix models/tiny-kimi --calib "$out/split/train.txt" --calib-tokens "$tokens" --calib-seq 512 -o "$imatrix" -q
timed() { local f=$1; shift; echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" > "$f"; /usr/bin/time -f 'wall %e s, user %U s, sys %S s, peak RSS %M KB' -a -o "$f" "$@"; echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$f"; }
for b in "${bits[@]}"; do
  for spec in mse wmse-sqrt wmse-uniform wmse-absx; do
    name="q$b-$spec"
    if [ "$spec" = mse ]; then run=(./bin/mlxk quantize models/tiny-kimi "$out/$name" --bits "$b" --method mse)
    else run=(env "MLXK_WMSE_PRIOR=${spec#wmse-}" ./bin/mlxk quantize models/tiny-kimi "$out/$name" --bits "$b" --method wmse --imatrix "$imatrix"); fi
    [ -f "$out/$name/config.json" ] || timed "$out/$name.time" nice -n 5 "${run[@]}" -q --json > "$out/$name.quantize.json"
    [ -s "$out/$name.ppl.json" ] || nice -n 5 ./bin/mlxk perplexity "$out/$name" --data "$out/split/heldout.txt" --baseline models/tiny-kimi --backend native -q --json > "$out/$name.ppl.json"
  done
done
node benchmarks/gptq-table.mjs "$out"

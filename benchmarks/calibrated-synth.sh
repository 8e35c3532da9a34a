#!/usr/bin/env bash
# Streaming and memory of the calibrated paths on a synthetic Kimi-architecture model of ≥ 3 GB
# (bf16): `mlxk imatrix`, then `quantize --method wmse --imatrix`, `--method mse` (the data-free
# baseline of the same run), `--method gptq` and, when asked, `--method learned`, each under
# /usr/bin/time -v (wall, CPU seconds, peak RSS). Usage: benchmarks/calibrated-synth.sh WORKDIR
# [METHODS] — METHODS defaults to "imatrix wmse mse gptq"; results in WORKDIR/*.time and *.json.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: benchmarks/calibrated-synth.sh WORKDIR [METHODS]}
methods=${2:-imatrix wmse mse gptq}
src=$work/synth-kimi-3g
mkdir -p "$work"
if [ ! -f "$src/config.json" ]; then
  # decode.ts's 3 B model cut to 5 layers, with tiny-kimi's tokenizer (vocab 4128) so the shipped
  # calibration text can be tokenized: 1.67 B parameters, 3.3 GB of bf16.
  ./bin/mlxk synth kimi_k2 "$src" --layers 5 --experts 64 --hidden 2048 --moe-intermediate 1024 --intermediate 5632 --vocab 4128 \
    --heads 16 --set q_lora_rank=512 --set kv_lora_rank=256 --set qk_nope_head_dim=64 --set qk_rope_head_dim=32 --set v_head_dim=64 \
    --set num_experts_per_tok=8 -q
  cp models/tiny-kimi/tiktoken.model models/tiny-kimi/tokenizer_config.json "$src/"
fi
timed() { # name, command...
  local name=$1; shift
  echo "== $name: $*  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -v -o "$work/$name.time" "$@" > "$work/$name.json"
  grep -E 'Elapsed|User time|System time|Maximum resident' "$work/$name.time"
}
for m in $methods; do
  case $m in
    imatrix) timed imatrix ./bin/mlxk imatrix "$src" --calib default --calib-tokens 4096 --calib-seq 512 -o "$work/synth.imatrix.gguf" -q --json ;;
    wmse) rm -rf "$work/q3-wmse"; timed wmse ./bin/mlxk quantize "$src" "$work/q3-wmse" --bits 3 --method wmse --imatrix "$work/synth.imatrix.gguf" -q --json ;;
    mse) rm -rf "$work/q3-mse"; timed mse ./bin/mlxk quantize "$src" "$work/q3-mse" --bits 3 --method mse -q --json ;;
    gptq) rm -rf "$work/q3-gptq"; timed gptq ./bin/mlxk quantize "$src" "$work/q3-gptq" --bits 3 --method gptq --calib default --calib-tokens 2048 --calib-seq 512 -q --json ;;
    learned) rm -rf "$work/q3-learned"; timed learned ./bin/mlxk quantize "$src" "$work/q3-learned" --bits 3 --method learned --iters 4 --calib default --calib-tokens 2048 --calib-seq 512 -q --json ;;
    *) echo "unknown method $m" >&2; exit 1 ;;
  esac
done

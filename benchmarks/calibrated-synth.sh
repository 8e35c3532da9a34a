#!/usr/bin/env bash
# Streaming and memory of the calibrated paths on a synthetic Kimi-architecture model of ≥ 3 GB
# (bf16): `mlxk imatrix`, then `quantize --method wmse --imatrix`, `--method mse` (the data-free
# baseline of the same run), `--method gptq` and, when asked, `--method learned`, each under
# /usr/bin/time -v (wall, CPU seconds, peak RSS). Usage: benchmarks/calibrated-synth.sh WORKDIR
# [METHODS] — METHODS defaults to "imatrix wmse mse gptq"; results in WORKDIR/*.time and *.json.
# `imatrix-2l` runs the imatrix over the same model cut to 2 layers (0.94 GB): the same peak means
# memory does not grow with depth.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: benchmarks/calibrated-synth.sh WORKDIR [METHODS]}
methods=${2:-imatrix wmse mse gptq}
src=$work/synth-kimi-3g
mkdir -p "$work"
synth() { # dir, layers
  [ -f "$1/config.json" ] && return
  # decode.ts's 3 B model cut to a few layers, with tiny-kimi's tokenizer (vocab 4128) so the shipped
  # calibration text can be tokenized: at 5 layers 1.71 B parameters, 3.43 GB of bf16.
  ./bin/mlxk synth kimi_k2 "$1" --layers "$2" --experts 64 --hidden 2048 --moe-intermediate 1024 --intermediate 5632 --vocab 4128 \
    --heads 16 --set q_lora_rank=512 --set kv_lora_rank=256 --set qk_nope_head_dim=64 --set qk_rope_head_dim=32 --set v_head_dim=64 \
    --set num_experts_per_tok=8 -q
  cp models/tiny-kimi/tiktoken.model models/tiny-kimi/tokenizer_config.json "$1/"
}
synth "$src" 5
timed() { # name, command...
  local name=$1; shift
  echo "== $name: $*  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -v -o "$work/$name.time" "$@" > "$work/$name.json"
  grep -E 'Elapsed|User time|System time|Maximum resident' "$work/$name.time"
}
for m in $methods; do
  case $m in
    imatrix) timed imatrix ./bin/mlxk imatrix "$src" --calib default --calib-tokens 4096 --calib-seq 512 -o "$work/synth.imatrix.gguf" -q --json ;;
    imatrix-2l) synth "$work/synth-kimi-2l" 2; timed imatrix-2l ./bin/mlxk imatrix "$work/synth-kimi-2l" --calib default --calib-tokens 4096 --calib-seq 512 -q --json ;;
    wmse) rm -rf "$work/q3-wmse"; timed wmse ./bin/mlxk quantize "$src" "$work/q3-wmse" --bits 3 --method wmse --imatrix "$work/synth.imatrix.gguf" -q --json ;;
    mse) rm -rf "$work/q3-mse"; timed mse ./bin/mlxk quantize "$src" "$work/q3-mse" --bits 3 --method mse -q --json ;;
    gptq) rm -rf "$work/q3-gptq"; timed gptq ./bin/mlxk quantize "$src" "$work/q3-gptq" --bits 3 --method gptq --calib default --calib-tokens 2048 --calib-seq 512 -q --json ;;
    learned) rm -rf "$work/q3-learned"; timed learned ./bin/mlxk quantize "$src" "$work/q3-learned" --bits 3 --method learned --iters 4 --calib default --calib-tokens 2048 --calib-seq 512 -q --json ;;
    *) echo "unknown method $m" >&2; exit 1 ;;
  esac
done

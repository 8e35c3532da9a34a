#!/usr/bin/env bash
# llama-bench of both peers on the tiny-kimi GGUFs tools/peers/quantize.sh made:
# 512-token prompt processing (pp512) and 128-token decode (tg128), THREADS (2) threads,
# types interleaved across peers so drift in the machine's load hits both alike.
# ik runs with its speed flags (-mla 3 -fa 1 -fmoe 1, its defaults) and once more
# with -rtr 1 (row-interleaved repacking at load). Writes markdown rows on stdout.
set -euo pipefail
PEERS=${PEERS:-/work/scratch/peers}
REPS=${REPS:-3}
echo "| peer | type | file MB | pp512 t/s | tg128 t/s | load average before |"
echo "|---|---|---|---|---|---|"
row() { # label bin gguf extra...
  local label=$1 bin=$2 f=$3; shift 3
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  local json; json=$("$bin" -m "$f" -p 512 -n 128 -t "${THREADS:-2}" -r "$REPS" -o json "$@" 2>/dev/null)
  python3 - "$label" "$f" "$load" "$json" <<'PY'
import json, os, sys
label, f, load, out = sys.argv[1:]
rows = json.loads(out)
ts = {('pp' if r['n_prompt'] else 'tg'): r for r in rows}
fmt = lambda r: f"{r['avg_ts']:.0f} ± {r['stddev_ts']:.0f}"
ty = os.path.basename(f).rsplit('-', 1)[-1].removesuffix('.gguf')
print(f"| {label} | {ty} | {os.path.getsize(f) / 1e6:.1f} | {fmt(ts['pp'])} | {fmt(ts['tg'])} | {load} |")
PY
}
for type in ${TYPES:-Q8_0 Q4_K Q3_K Q2_K}; do
  row "llama.cpp" "$PEERS/build/mainline/bin/llama-bench" "$PEERS/gguf/mainline/tiny-kimi-$type.gguf"
  row "ik_llama.cpp" "$PEERS/build/ik/bin/llama-bench" "$PEERS/gguf/ik/tiny-kimi-$type.gguf" -mla 3 -fa 1 -fmoe 1
  row "ik_llama.cpp -rtr 1" "$PEERS/build/ik/bin/llama-bench" "$PEERS/gguf/ik/tiny-kimi-$type.gguf" -mla 3 -fa 1 -fmoe 1 -rtr 1
done

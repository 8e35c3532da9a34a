#!/usr/bin/env bash
# Quantizes the float32 tiny-kimi GGUF with each peer's own llama-quantize to the
# types nearest mlxk's widths (Q8_0, Q4_K, Q3_K, Q2_K), every tensor the same type
# (`--pure`; a tensor whose rows are not a multiple of the type's block falls back,
# as llama-quantize reports). Output: $PEERS/gguf/<peer>/tiny-kimi-<TYPE>.gguf
# (and the float32 GGUFs $PEERS/gguf/tiny-kimi-f32.gguf, tiny-kimi-f32-ik.gguf).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-/work/scratch/peers}
for peer in ${PEER_LIST:-mainline ik}; do
  # each peer's own MLA layout (convert_tiny_kimi.py --flavor)
  SRC=$PEERS/gguf/tiny-kimi-f32$([ "$peer" = ik ] && echo -ik).gguf
  [ -f "$SRC" ] || PYTHONPATH=$PEERS/src/mainline/gguf-py python3 "$here/convert_tiny_kimi.py" --flavor "$peer" "$here/../../models/tiny-kimi" "$SRC"
  mkdir -p "$PEERS/gguf/$peer"
  for type in ${TYPES:-Q8_0 Q4_K Q3_K Q2_K}; do
    out=$PEERS/gguf/$peer/tiny-kimi-$type.gguf
    "$PEERS/build/$peer/bin/llama-quantize" --pure "$SRC" "$out" "$type" 2 > "$out.log" 2>&1 || { tail -5 "$out.log" >&2; exit 1; }
    echo "$peer $type: $(stat -c %s "$out") bytes; fallbacks: $(grep -c -i fallback "$out.log" || true)"
  done
done

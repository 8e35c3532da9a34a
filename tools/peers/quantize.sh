#!/usr/bin/env bash
# Quantizes a float GGUF of a model with each peer's own llama-quantize to the types nearest
# mlxk's widths (Q8_0, Q4_K, Q3_K, Q2_K), every tensor the same type (`--pure`; a tensor whose
# rows are not a multiple of the type's block falls back, as llama-quantize reports).
#   tools/peers/quantize.sh                      the bundled model: converts models/tiny-kimi
#                                                to $PEERS/gguf/tiny-kimi-f32{,-ik}.gguf first
#   MODEL=DIR NAME=N OUTTYPE=bf16 VOCAB_FROM=models/tiny-kimi tools/peers/quantize.sh
#                                                another model, e.g. an mlxk synth model (it has
#                                                no tokenizer files: VOCAB_FROM lends tiny-kimi's)
# Output: $PEERS/gguf/<peer>/$NAME-<TYPE>.gguf; PEER_LIST (mainline ik) and TYPES select.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-/work/scratch/peers}
MODEL=${MODEL:-$here/../../models/tiny-kimi}
NAME=${NAME:-$(basename "$MODEL")}
OUTTYPE=${OUTTYPE:-f32}
mkdir -p "$PEERS/gguf"
for peer in ${PEER_LIST:-mainline ik}; do
  # each peer's own MLA layout (convert_tiny_kimi.py --flavor)
  flavor=""
  if [ "$peer" = ik ]; then flavor=-ik; fi
  SRC=$PEERS/gguf/$NAME-$OUTTYPE$flavor.gguf
  [ -f "$SRC" ] || PYTHONPATH=$PEERS/src/mainline/gguf-py python3 "$here/convert_tiny_kimi.py" --flavor "$peer" --outtype "$OUTTYPE" \
    ${VOCAB_FROM:+--vocab-from "$VOCAB_FROM"} "$MODEL" "$SRC"
  mkdir -p "$PEERS/gguf/$peer"
  for type in ${TYPES:-Q8_0 Q4_K Q3_K Q2_K}; do
    out=$PEERS/gguf/$peer/$NAME-$type.gguf
    "$PEERS/build/$peer/bin/llama-quantize" --pure "$SRC" "$out" "$type" 2 > "$out.log" 2>&1 || { tail -5 "$out.log" >&2; exit 1; }
    echo "$peer $type: $(stat -c %s "$out") bytes; fallbacks: $(grep -c -i fallback "$out.log" || true)"
  done
done

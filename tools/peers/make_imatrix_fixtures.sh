#!/usr/bin/env bash
# Writes test/fixtures/imatrix/: llama.cpp's own imatrix of the bundled model over
# test/fixtures/imatrix/calib.txt (a copy of docs/ARCHITECTURE.md: our text, not
# evaluation text) in both formats, and an independent dump of both (gguf-py and
# numpy, tools/peers/dump_imatrix.py) that test/io/imatrixFixtures.test.ts reads
# mlxk's parse against. Needs tools/peers/build.sh mainline first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PEERS=${PEERS:-/work/scratch/peers}
BIN=$PEERS/build/mainline/bin
export PYTHONPATH=$PEERS/src/mainline/gguf-py
G=$PEERS/gguf/tiny-kimi-f32.gguf
[ -f "$G" ] || python3 "$here/convert_tiny_kimi.py" "$repo/models/tiny-kimi" "$G"
cd "$repo"
F=test/fixtures/imatrix
"$BIN/llama-imatrix" -m "$G" -f $F/calib.txt -o $F/tiny-kimi.imatrix.gguf -c 512 -t 2 --no-ppl
# the same with YaRN off (test/calib/imatrixAgreement.test.ts runs mlxk on a config without rope_scaling)
"$BIN/llama-imatrix" -m "$G" -f $F/calib.txt -o $F/tiny-kimi-yarn-off.imatrix.gguf -c 512 -t 2 --no-ppl --rope-scaling none
"$BIN/llama-imatrix" -m "$G" -f $F/calib.txt -o $F/tiny-kimi.imatrix.dat --output-format dat -c 512 -t 2 --no-ppl
python3 "$here/dump_imatrix.py" $F/tiny-kimi.imatrix.gguf $F/tiny-kimi.imatrix.dat > $F/tiny-kimi.imatrix.json

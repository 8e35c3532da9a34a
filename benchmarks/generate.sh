#!/usr/bin/env bash
# Generation speed of tiny-kimi at bf16 and quantized to 8, 4, 3 and 2 bits (presets
# q8 … q2, made here with mlxk quantize) plus the bundled mixed_3_6, on the mlx backend.
# Prompt: the 300 golden tokens of seq3 (eval text tokens 2000–2300); 128 greedy tokens.
# Each model runs RUNS times (default 5) as its own `mlxk generate` process; the table
# gives the median. Ratios are against bf16 in the same run.
# Usage: benchmarks/generate.sh [WORKDIR]   — writes benchmarks/results/generate.md
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
runs=${RUNS:-5}
mkdir -p "$work"
ids=$(node --input-type=module -e "
const { SafetensorsFile } = await import('./dist/lib/io/safetensors.js');
const b = SafetensorsFile.open('models/tiny-kimi/golden.safetensors').read('seq3.input_ids');
process.stdout.write(Array.from(new Int32Array(b.buffer, b.byteOffset, b.length / 4)).join(','));")
models=("bf16=models/tiny-kimi")
for b in 8 4 3 2; do
  [ -f "$work/q$b/config.json" ] || ./bin/mlxk quantize models/tiny-kimi "$work/q$b" --preset "q$b" -q --force > /dev/null
  models+=("q$b=$work/q$b")
done
models+=("mixed_3_6=models/tiny-kimi-mixed_3_6")
results="$work/results.jsonl"
: > "$results"
# Rounds over all models, so a busy moment of the shared machine hits every model alike.
for ((r = 0; r < runs; r++)); do
  for entry in "${models[@]}"; do
    name=${entry%%=*}
    dir=${entry#*=}
    ./bin/mlxk generate "$dir" --prompt-ids "$ids" --max-tokens 128 --temp 0 --json |
      node -e "const j = JSON.parse(require('fs').readFileSync(0, 'utf8')); console.log(JSON.stringify({ name: process.argv[1], ...j.stats }))" "$name" >> "$results"
  done
done
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const names = [...new Set(rows.map((r) => r.name))];
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const stat = (n, k) => median(rows.filter((r) => r.name === n).map((r) => r[k]));
const base = { p: stat("bf16", "prompt_tokens_per_second"), g: stat("bf16", "generation_tokens_per_second") };
const cpu = require("os").cpus()[0].model, ncpu = require("os").cpus().length;
const lines = [
  "# mlxk generate: tiny-kimi tokens per second (mlx backend, CPU)",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${ncpu} cores (shared with other jobs), Node ${process.version}, with \`benchmarks/generate.sh\`: median of ${process.argv[2]} runs of`,
  "`mlxk generate MODEL --prompt-ids <300 ids> --max-tokens 128 --temp 0 --json` per model.",
  "",
  "| model | prompt tokens/s | generation tokens/s | time to first token | peak RSS |",
  "|---|---|---|---|---|",
  ...names.map((n) => {
    const p = stat(n, "prompt_tokens_per_second"), g = stat(n, "generation_tokens_per_second");
    return `| ${n} | ${p.toFixed(0)} (${(p / base.p).toFixed(2)}×) | ${g.toFixed(1)} (${(g / base.g).toFixed(2)}×) | ${(stat(n, "time_to_first_token_seconds") * 1000).toFixed(0)} ms | ${(stat(n, "peak_rss_bytes") / 1e6).toFixed(0)} MB |`;
  }),
];
require("fs").writeFileSync("benchmarks/results/generate.md", lines.join("\n") + "\n");
console.log(lines.join("\n"));
' "$results" "$runs"

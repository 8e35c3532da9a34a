#!/usr/bin/env bash
# Generation speed of tiny-kimi at bf16 and quantized to 8, 4, 3 and 2 bits (presets
# q8 … q2, made here with mlxk quantize) plus the bundled mixed_3_6, on the native and
# the mlx backends. Prompt: the 300 golden tokens of seq3 (eval text tokens 2000–2300);
# 128 greedy tokens. Each model × backend runs RUNS times (default 5) as its own
# `mlxk generate` process; the table gives medians and native ÷ mlx from the same run.
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
loads=$(cut -d' ' -f1 /proc/loadavg)
for ((r = 0; r < runs; r++)); do
  for entry in "${models[@]}"; do
    name=${entry%%=*}
    dir=${entry#*=}
    for backend in native mlx; do
      ./bin/mlxk generate "$dir" --prompt-ids "$ids" --max-tokens 128 --temp 0 --json --backend "$backend" |
        node -e "const j = JSON.parse(require('fs').readFileSync(0, 'utf8')); console.log(JSON.stringify({ name: process.argv[1], backend: process.argv[2], ...j.stats }))" "$name" "$backend" >> "$results"
    done
    loads="$loads $(cut -d' ' -f1 /proc/loadavg)"
  done
done
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const names = [...new Set(rows.map((r) => r.name))];
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const stat = (n, b, k) => median(rows.filter((r) => r.name === n && r.backend === b).map((r) => r[k]));
const loads = process.argv[3].trim().split(/\s+/).map(Number);
const cpu = require("os").cpus()[0].model, ncpu = require("os").cpus().length;
const lines = [
  "# mlxk generate: tiny-kimi tokens per second, native and mlx backends (CPU)",
  "",
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${ncpu} cores (shared with other jobs; 1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, median ${median(loads).toFixed(1)}), Node ${process.version}, with \`benchmarks/generate.sh\`: median of ${process.argv[2]} runs of`,
  "`mlxk generate MODEL --prompt-ids <300 ids> --max-tokens 128 --temp 0 --json --backend B` per model and backend (native: int8 activations, the default).",
  "",
  "| model | native prompt tokens/s | native generation tokens/s | mlx prompt tokens/s | mlx generation tokens/s | native ÷ mlx (prompt, generation) | native first token | native peak RSS |",
  "|---|---|---|---|---|---|---|---|",
  ...names.map((n) => {
    const [np, ng, mp, mg] = [stat(n, "native", "prompt_tokens_per_second"), stat(n, "native", "generation_tokens_per_second"), stat(n, "mlx", "prompt_tokens_per_second"), stat(n, "mlx", "generation_tokens_per_second")];
    return `| ${n} | ${np.toFixed(0)} | ${ng.toFixed(1)} | ${mp.toFixed(0)} | ${mg.toFixed(1)} | ${(np / mp).toFixed(1)}×, ${(ng / mg).toFixed(1)}× | ${(stat(n, "native", "time_to_first_token_seconds") * 1000).toFixed(0)} ms | ${(stat(n, "native", "peak_rss_bytes") / 1e6).toFixed(0)} MB |`;
  }),
];
require("fs").writeFileSync("benchmarks/results/generate.md", lines.join("\n") + "\n");
console.log(lines.join("\n"));
' "$results" "$runs" "$loads"

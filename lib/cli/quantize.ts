// `mlxk quantize SRC DST`: convert a checkpoint to MLX format with a preset.
import type { Command } from 'commander';
import { convert, type ConvertProgress, type ConvertReport } from '../quant/convert.js';
import { ProgressBar } from './progress.js';
import { addPresetOptions, type PresetFlags, presetFromFlags } from './presetArgs.js';
import { humanBytes, parseBytes } from './units.js';

interface QuantizeFlags extends PresetFlags {
  force?: boolean;
  threads?: string;
  shardSize: string;
  json?: boolean;
  quiet?: boolean;
}

function summary(r: ConvertReport): string {
  const mbps = r.sourceBytesRead / 1e6 / Math.max(r.seconds, 1e-3);
  const worst = r.tensors.filter((t) => t.relRmsError !== null).sort((a, b) => b.relRmsError! - a.relRmsError!)[0];
  return [
    `wrote ${r.dst}: ${r.shards.length} shard(s), ${humanBytes(r.bytes)}, ${r.bitsPerWeight.toFixed(3)} bits per weight (preset ${r.preset})`,
    `read ${humanBytes(r.sourceBytesRead)} of source in ${r.seconds.toFixed(1)} s (${mbps.toFixed(1)} MB/s), peak memory ${humanBytes(r.peakRssBytes)}${r.resumedShards ? `, resumed after ${r.resumedShards} finished shard(s)` : ''}`,
    worst ? `largest relative RMS error: ${worst.relRmsError!.toFixed(4)} (${worst.name}, ${worst.bits}-bit)` : '',
  ].filter(Boolean).join('\n');
}

export function registerQuantize(program: Command): void {
  const cmd = program
    .command('quantize')
    .description('convert a Hugging Face (bf16, fp8, INT4, NVFP4) or MLX checkpoint into an MLX checkpoint with per-module mixed precision; streams, resumes, never touches the source')
    .argument('<src>', 'source model directory or HF cache id (ORG/NAME)')
    .argument('<dst>', 'output directory (must be empty or an unfinished conversion of the same settings)')
    .option('-f, --force', 'overwrite model files already in <dst>')
    .option('-t, --threads <n>', 'worker threads for the quantization math (default: all cores)')
    .option('--shard-size <size>', 'largest output shard', '5GiB')
    .option('--json', 'print the report (per-tensor bits, method and relative RMS error) as JSON on stdout')
    .option('-q, --quiet', 'no progress bar');
  addPresetOptions(cmd).action(async (src: string, dst: string, flags: QuantizeFlags) => {
    const { preset, extraRules } = presetFromFlags(flags);
    const bar = new ProgressBar('quantize', process.stderr, !flags.quiet);
    const started = Date.now();
    const onProgress = (p: ConvertProgress) => {
      const secs = (Date.now() - started) / 1000;
      bar.update({ done: p.bytesDone, total: p.bytesTotal, detail: `${p.modulesDone}/${p.modulesTotal} modules · ${humanBytes(p.bytesDone)}/${humanBytes(p.bytesTotal)} · ${(p.sourceBytesRead / 1e6 / Math.max(secs, 1e-3)).toFixed(0)} MB/s` });
    };
    const report = await convert({
      src, dst, preset, extraRules,
      force: flags.force ?? false,
      maxShardBytes: parseBytes(flags.shardSize, '--shard-size'),
      ...(flags.threads ? { threads: Number(flags.threads) } : {}),
      onProgress,
    });
    bar.done();
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${summary(report)}\n`);
  });
}

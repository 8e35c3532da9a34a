// `mlxk imatrix MODEL [--calib FILE]`: the model's importance matrix over calibration text
// (lib/calib/imatrix.ts), with the experts it reached rarely or never, throughput and peak memory.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { createOps } from '../backend/index.js';
import { openCalibration } from '../calib/calibText.js';
import { type ExpertCoverage, gatherImportance, type ImatrixResult } from '../calib/imatrix.js';
import { MlxkError } from '../io/errors.js';
import { writeImatrix } from '../io/imatrixFile.js';
import { imatrixEntries } from '../quant/imatrixModules.js';
import { addMeasureOptions, backendArg } from './commonOptions.js';
import { interruptible } from './interrupt.js';
import { commandLine } from './measureArgs.js';
import { ProgressBar } from './progress.js';

interface ImatrixFlags {
  calib?: string;
  output?: string;
  calibTokens: string;
  calibSeq: string;
  passTokens: string;
  backend?: string;
  json?: boolean;
  quiet?: boolean;
}

export interface ImatrixReport {
  command: string;
  model: string;
  backend: string;
  calibration: { name: string; files: { path: string; sha256: string }[] };
  tokens: number;
  windows: number;
  seqLen: number;
  /** Passes over the model's weights (windows run together, one decoder layer loaded at a time). */
  passes: number;
  seconds: number;
  tokensPerSecond: number;
  modules: number;
  /** Resident-set high-water mark of the process (Linux VmHWM; includes mapped weight pages read). */
  peakRssBytes: number;
  /** Largest anonymous resident set seen between layers (Linux RssAnon): what the pass itself allocates. */
  peakAnonBytes: number | null;
  coverage: ExpertCoverage[];
  /** The imatrix file written (-o), GGUF unless its name ends in .dat. */
  output: string | null;
}

function statusKb(field: string): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function int(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new MlxkError(`${flag} ${text}: expected a whole number from ${min} to ${max}`);
  return n;
}

function coverageLines(cov: ExpertCoverage[]): string[] {
  const lines: string[] = [];
  for (const c of cov) {
    if (c.unseen.length === 0 && c.few.length === 0) continue;
    lines.push(`  ${c.module}: ${c.unseen.length ? `${c.unseen.length} of ${c.experts} experts saw no token (${c.unseen.join(', ')})` : ''}${c.unseen.length && c.few.length ? '; ' : ''}${c.few.length ? `${c.few.length} saw under a tenth of the average (${c.few.join(', ')})` : ''}`);
  }
  const layers = cov.length;
  const head = layers === 0 ? 'no routed experts' : `routed experts: tokens per expert ${Math.min(...cov.map((c) => c.minTokens))}…${Math.max(...cov.map((c) => c.maxTokens))} over ${layers} MoE layer(s)`;
  return [head, ...(lines.length ? lines : layers ? ['  every expert saw at least a tenth of its layer\'s average'] : [])];
}

export function imatrixLines(r: ImatrixReport): string[] {
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  return [
    `${r.model}: Σx² per input column of ${r.modules} modules over ${r.tokens} tokens (${r.windows} windows of ${r.seqLen}, ${r.passes} pass${r.passes === 1 ? '' : 'es'} over the weights) in ${r.seconds.toFixed(1)} s, ${r.tokensPerSecond.toFixed(1)} tokens/s on ${r.backend}`,
    `calibration: ${r.calibration.name === 'default' ? 'the shipped set' : r.calibration.name} (${r.calibration.files.map((f) => f.sha256.slice(0, 12)).join(', ')})`,
    ...(r.output ? [`wrote ${r.output}`] : []),
    `peak memory: ${gb(r.peakRssBytes)} resident${r.peakAnonBytes !== null ? `, ${gb(r.peakAnonBytes)} of it anonymous` : ''}`,
    ...coverageLines(r.coverage),
  ];
}

export async function runImatrix(modelPath: string, flags: ImatrixFlags): Promise<{ report: ImatrixReport; result: ImatrixResult }> {
  const calib = openCalibration(flags.calib);
  // refused before the pass, not after minutes of it
  if (flags.output && !(existsSync(dirname(flags.output)) && statSync(dirname(flags.output)).isDirectory())) {
    throw new MlxkError(`-o ${flags.output}: no directory ${dirname(flags.output)} to write the imatrix into`);
  }
  const seqLen = int(flags.calibSeq, '--calib-seq', 16, 8192);
  const maxTokens = int(flags.calibTokens, '--calib-tokens', seqLen, 4_000_000);
  const passTokens = int(flags.passTokens, '--pass-tokens', seqLen, 4_000_000);
  const ops = createOps(backendArg(flags.backend));
  const bar = new ProgressBar('imatrix', process.stderr, !flags.quiet);
  let peakAnon = statusKb('RssAnon');
  const result = await interruptible((signal) =>
    gatherImportance(modelPath, ops, {
      calib, seqLen, maxTokens, passTokens, signal,
      onProgress: (p) => {
        const anon = statusKb('RssAnon');
        if (anon !== null) peakAnon = Math.max(peakAnon ?? 0, anon);
        const rate = p.tokensPerSecond > 0 ? ` · ${p.tokensPerSecond.toFixed(1)} tokens/s` : '';
        bar.update({ done: p.layersDone, total: p.layersTotal, detail: `pass ${p.pass}/${p.passes} · layer ${p.layersDone - (p.pass - 1) * (p.layersTotal / p.passes)}/${p.layersTotal / p.passes}${rate}` });
      },
    }),
  );
  bar.done();
  const report: ImatrixReport = {
    command: commandLine(),
    model: modelPath,
    backend: ops.name,
    calibration: { name: calib.name, files: calib.files.map((f) => ({ path: f.path, sha256: f.sha256 })) },
    tokens: result.tokens,
    windows: result.windows,
    seqLen: result.seqLen,
    passes: result.passes,
    seconds: result.seconds,
    tokensPerSecond: result.tokens / result.seconds,
    modules: result.importance.size,
    peakRssBytes: statusKb('VmHWM') ?? process.memoryUsage.rss(),
    peakAnonBytes: peakAnon,
    coverage: result.coverage,
    output: flags.output ?? null,
  };
  if (flags.output) {
    // llama-imatrix's own metadata, so llama-quantize --imatrix and ours read it alike
    writeImatrix(flags.output, {
      entries: imatrixEntries(result.importance),
      datasets: calib.files.map((f) => f.path),
      chunkCount: result.windows,
      chunkSize: result.seqLen,
      tokensPerCount: 1,
    });
  }
  return { report, result };
}

export function registerImatrix(program: Command): void {
  const cmd = program
    .command('imatrix')
    .description('importance matrix of a model (llama.cpp\'s imatrix): Σx² per input column of every linear layer over calibration text, per expert for routed experts, with the experts calibration reached rarely or never')
    .argument('<model>', 'model directory or HF cache id (any architecture mlxk runs: deepseek_v3/kimi, llama, qwen3, qwen3_moe)')
    .option('--calib <file>', `calibration text: "default" (the shipped set, calib/; also when omitted), a text file, or chat JSONL (.jsonl: {"messages": [...]} per line, rendered through the model's chat template); never the text you evaluate on`)
    .option('-o, --output <file>', 'write the importance matrix as llama.cpp\'s imatrix file (GGUF; legacy .dat when the name ends in .dat), for `mlxk quantize --imatrix` or llama-quantize')
    .option('--calib-tokens <n>', 'most calibration tokens used, in windows spread over the set', '131072')
    .option('--calib-seq <n>', 'tokens per window (each starts with an empty cache)', '512')
    .option('--pass-tokens <n>', 'most tokens run through the model together: the weights are read once per pass, one decoder layer at a time, and the activations held grow with this', '8192');
  addMeasureOptions(cmd).action(async (model: string, flags: ImatrixFlags) => {
    const { report } = await runImatrix(model, flags);
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${imatrixLines(report).join('\n')}\n`);
  });
}

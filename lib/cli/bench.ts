// `mlxk bench MODEL...`: prompt/generation throughput tables, one column per model.
import type { Command } from 'commander';
import { createOps } from '../backend/index.js';
import { type BenchReport, benchMarkdown, benchSvg } from '../bench/benchReport.js';
import { finishMachineInfo, machineInfo } from '../bench/machine.js';
import { collectGarbage, processMemoryProbe } from '../bench/memory.js';
import { type BenchModel, type BenchResult, runBench } from '../bench/throughput.js';
import { wallClock } from '../bench/trial.js';
import { loadModel } from '../models/load.js';
import { inspectModel } from './inspect.js';
import { addMeasureOptions, backendArg } from './commonOptions.js';
import { interruptible } from './interrupt.js';
import { commandLine, labelledModel, nonNegativeInt, positiveInt, positiveInts, reportPaths, writeReportFiles } from './measureArgs.js';
import { ProgressBar } from './progress.js';

interface BenchFlags {
  promptSizes: string;
  genSizes: string;
  genPrompt: string;
  repetitions: string;
  seed: string;
  backend?: string;
  json?: boolean;
  out?: string;
  note?: string[];
  quiet?: boolean;
}

function benchModel(arg: string, backend: ReturnType<typeof backendArg>): BenchModel {
  const { label, path } = labelledModel(arg);
  const info = inspectModel(path);
  return {
    label, path,
    bytes: info.bytes as number,
    ...(typeof info.bits_per_weight === 'number' ? { bitsPerWeight: info.bits_per_weight } : {}),
    load: async () => {
      const loaded = await loadModel(path, createOps(backend));
      return { model: loaded.model, loadSeconds: loaded.loadSeconds, release: collectGarbage };
    },
  };
}

export function registerBench(program: Command): void {
  const cmd = program
    .command('bench')
    .description('prompt and generation throughput, time to first token and peak memory per size, one column per model (markdown, JSON, SVG)')
    .argument('<models...>', 'model directories or HF cache ids; LABEL=PATH names a column')
    .option('--prompt-sizes <list>', 'prompt lengths to time (tokens)', '1000,5000,10000,20000')
    .option('--gen-sizes <list>', 'generation lengths to time (tokens)', '500,1000,2000,5000')
    .option('--gen-prompt <n>', 'prompt length for the generation trials', '64')
    .option('-r, --repetitions <n>', 'trials per size (median, min and max reported)', '5')
    .option('--seed <n>', 'seed of the random prompt tokens', '0');
  addMeasureOptions(cmd, { outHelp: 'write FILE.md, FILE.json and FILE.svg (rewritten after every trial)' })
    .action(async (args: string[], flags: BenchFlags) => {
      const backend = backendArg(flags.backend);
      const settings = {
        promptSizes: flags.promptSizes.trim() === '' ? [] : positiveInts(flags.promptSizes, '--prompt-sizes'),
        genSizes: flags.genSizes.trim() === '' ? [] : positiveInts(flags.genSizes, '--gen-sizes'),
        genPrompt: positiveInt(flags.genPrompt, '--gen-prompt')!,
        repetitions: positiveInt(flags.repetitions, '--repetitions')!,
        seed: nonNegativeInt(flags.seed, '--seed'),
      };
      const models = args.map((a) => benchModel(a, backend));
      const memory = processMemoryProbe();
      const machine = machineInfo();
      const command = commandLine();
      const date = new Date().toISOString().slice(0, 10);
      const report = (r: BenchResult): BenchReport => ({ command, notes: flags.note ?? [], machine: finishMachineInfo(machine), memoryMethod: memory.method, date, ...r });
      const save = (r: BenchReport) => flags.out && writeReportFiles(flags.out, { md: benchMarkdown(r), json: r, svg: benchSvg(r) });
      const bar = new ProgressBar('bench', process.stderr, !flags.quiet);
      const result = await interruptible((signal) =>
        runBench({
          settings, models, clock: wallClock, memory, signal,
          onProgress: (p) => bar.update({ done: p.done, total: p.total, detail: `${p.label} ${p.what}` }, Boolean(process.stderr.isTTY)),
          onTrial: (sofar) => save(report({ ...sofar, partial: true })),
        }),
      );
      bar.done();
      const final = report(result);
      save(final);
      process.stdout.write(flags.json ? `${JSON.stringify(final, null, 2)}\n` : benchMarkdown(final));
      if (flags.out) process.stderr.write(`wrote ${Object.values(reportPaths(flags.out)).join(', ')}\n`);
    });
}

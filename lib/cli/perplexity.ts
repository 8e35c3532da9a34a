// `mlxk perplexity MODEL --data FILE`: perplexity ± standard error over fixed windows,
// and with --baseline the KL divergence and top-1 agreement against another model.
import type { Command } from 'commander';
import { type BackendName, createOps } from '../backend/index.js';
import { tokenizeFile } from '../bench/data.js';
import { finishMachineInfo, machineInfo } from '../bench/machine.js';
import { evaluatePerplexity } from '../bench/perplexity.js';
import { dataSummary, type PerplexityReport, perplexityLines } from '../bench/perplexityReport.js';
import { planWindows } from '../bench/windows.js';
import { MlxkError } from '../io/errors.js';
import { loadModel } from '../models/load.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { addMeasureOptions, backendArg } from './commonOptions.js';
import { interruptible } from './interrupt.js';
import { commandLine, positiveInt } from './measureArgs.js';
import { ProgressBar } from './progress.js';

interface PerplexityFlags {
  data?: string;
  seqLen: string;
  maxWindows?: string;
  baseline?: string;
  backend?: string;
  json?: boolean;
  quiet?: boolean;
}

function tokenizerOf(dir: string) {
  try {
    return loadTokenizer(dir);
  } catch (e) {
    if (e instanceof MlxkError) throw new MlxkError(`${dir}: ${e.message}`, 'perplexity tokenizes --data with the model\'s own tokenizer');
    throw e;
  }
}

export async function runPerplexity(modelPath: string, flags: PerplexityFlags, backend: BackendName | undefined): Promise<PerplexityReport> {
  if (!flags.data) throw new MlxkError('--data FILE is required (the text to evaluate on)');
  const loaded = await loadModel(modelPath, createOps(backend));
  const data = tokenizeFile(flags.data, tokenizerOf(loaded.dir));
  const plan = planWindows(data.ids, positiveInt(flags.seqLen, '--seq-len')!, positiveInt(flags.maxWindows, '--max-windows'));
  const baseline = flags.baseline ? await loadModel(flags.baseline, createOps(backend)) : null;
  const machine = machineInfo();
  const bar = new ProgressBar('perplexity', process.stderr, !flags.quiet);
  const result = await interruptible((signal) =>
    evaluatePerplexity({
      models: [loaded.model],
      ...(baseline ? { baseline: baseline.model } : {}),
      windows: plan.windows,
      signal,
      onWindow: (done, total, s) => bar.update({ done, total, detail: `${done}/${total} windows · ppl ${s.models[0]!.ppl.toFixed(3)}${s.models[0]!.kl ? ` · KLD ${s.models[0]!.kl.mean.toFixed(4)}` : ''}` }),
    }),
  );
  bar.done();
  return {
    command: commandLine(),
    model: loaded.dir,
    baseline: baseline?.dir ?? null,
    backend: loaded.model.ops.name,
    data: dataSummary(data, plan.available, plan.tailDropped),
    machine: finishMachineInfo(machine),
    result,
  };
}

export function registerPerplexity(program: Command): void {
  const cmd = program
    .command('perplexity')
    .description('perplexity ± standard error on a text file in non-overlapping windows; with --baseline, KL divergence and top-1 agreement against it')
    .argument('<model>', 'model directory or HF cache id')
    .option('--data <file>', 'UTF-8 text, tokenized whole with the model\'s tokenizer (no BOS)')
    .option('--seq-len <n>', 'window length in tokens', '512')
    .option('--max-windows <n>', 'evaluate only the first N windows')
    .option('--baseline <model>', 'reference model (same tokenizer), e.g. the unquantized source');
  addMeasureOptions(cmd)
    .action(async (model: string, flags: PerplexityFlags) => {
      const report = await runPerplexity(model, flags, backendArg(flags.backend));
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${perplexityLines(report).join('\n')}\n`);
    });
}

// `mlxk <verb>`: one file per verb under lib/cli/, registered here.
import { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerChat } from './chat.js';
import { reportError } from './errors.js';
import { registerEvalQuants } from './evalQuants.js';
import { registerGenerate } from './generate.js';
import { registerImatrix } from './imatrix.js';
import { registerInspect } from './inspect.js';
import { registerPerplexity } from './perplexity.js';
import { registerPlan } from './plan.js';
import { registerQuantize } from './quantize.js';
import { registerSensitivity } from './sensitivity.js';
import { registerServe } from './serve.js';
import { registerSynth } from './synth.js';

export function buildProgram(): Command {
  const program = new Command('mlxk')
    .description('Quantize huge MoE models into MLX format, serve them to agents, and measure them.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  registerPlan(program);
  registerQuantize(program);
  registerImatrix(program);
  registerSensitivity(program);
  registerInspect(program);
  registerSynth(program);
  registerGenerate(program);
  registerChat(program);
  registerServe(program);
  registerBench(program);
  registerPerplexity(program);
  registerEvalQuants(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

// `mlxk sensitivity MODEL --calib FILE -o TABLE.json`: the loss of each allocation unit under
// each storage option, for `quantize --target-bpw … --sensitivity TABLE.json` and `plan`.
// `--fit` also computes the raw weight proxy and prints the per-role scales that map it to KL.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { createOps } from '../backend/index.js';
import { fitRoleScales, proxyTable } from '../calib/sensitivity.js';
import { Checkpoint, resolveModelPath } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { tensorTable } from '../models/registry.js';
import { METHODS, type Method } from '../quant/preset.js';
import { allocationGroups, recipeSizes } from '../quant/recipe.js';
import { sensitivityFor } from './allocArgs.js';
import { addBackendOption, backendArg } from './commonOptions.js';
import { ProgressBar } from './progress.js';
import { positiveInt } from './measureArgs.js';

interface SensitivityFlags {
  calib?: string;
  out?: string;
  method: string;
  how: string;
  tokens: string;
  fit?: boolean;
  backend?: string;
  quiet?: boolean;
}

export function registerSensitivity(program: Command): void {
  const cmd = program
    .command('sensitivity')
    .description('estimate the loss of every allocation unit (expert projection per layer, attention, dense MLP, shared experts, embedding, lm_head) under every MLX storage option, for quantize/plan --target-bpw')
    .argument('<model>', 'source model directory or HF cache id')
    .option('--calib <file>', 'calibration text: "default" (the shipped set, calib/), a text file, or chat JSONL; its last --tokens tokens are the held-out text KL is measured on (never evaluation text)')
    .option('-o, --out <file>', 'write the table here (JSON)')
    .option('--method <m>', 'quantizer the losses are measured with (rtn, mse)', 'mse')
    .option('--how <kl|proxy>', 'kl: each unit quantized alone, KL against the source on held-out text; proxy: Σ ΔW² relative error on sampled rows × per-role scales', 'kl')
    .option('--tokens <n>', 'held-out tokens for kl', '2048')
    .option('--fit', 'also compute the raw proxy and print, per role, the scale that maps it to the measured KL (for lib/quant/prior.ts)')
    .option('-q, --quiet', 'no progress bar');
  addBackendOption(cmd).action(async (modelArg: string, f: SensitivityFlags) => {
    if (!(METHODS as readonly string[]).includes(f.method)) throw new MlxkError(`--method ${f.method}: expected one of ${METHODS.join(', ')}`);
    if (f.how !== 'kl' && f.how !== 'proxy') throw new MlxkError(`--how ${f.how}: expected kl or proxy`);
    const src = resolveModelPath(modelArg);
    const ckpt = Checkpoint.open(src);
    const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
    ckpt.close();
    const bar = new ProgressBar('sensitivity', process.stderr, !f.quiet);
    const method = f.method as Method;
    const result = await sensitivityFor({
      src, table, origin: modelArg, how: f.how, method, ...(f.calib ? { calib: f.calib } : {}), tokens: positiveInt(f.tokens, '--tokens')!,
      ops: () => createOps(backendArg(f.backend)), onProgress: (p) => bar.update({ done: p.done, total: p.total, detail: p.unit }),
    }, recipeSizes(table).params);
    bar.done();
    const text = `${JSON.stringify(result, null, 1)}\n`;
    if (f.out) writeFileSync(f.out, text);
    else if (!f.fit) process.stdout.write(text);
    if (f.fit) {
      if (result.source !== 'kl') throw new MlxkError('--fit compares the proxy with measured KL: use --how kl');
      const raw = proxyTable({ src, method, scale: () => 1 });
      const roles = new Map(allocationGroups(table).map((g) => [g.id, g.role]));
      const fit = fitRoleScales(result, raw, (id) => roles.get(id)!);
      process.stdout.write('role            scale (KL per unit of relative error)   points   rms log error\n');
      for (const [role, s] of fit) process.stdout.write(`${role.padEnd(16)}${s.scale.toPrecision(4).padStart(12)}${String(s.points).padStart(32)}${s.rmsLogError.toFixed(3).padStart(16)}\n`);
    }
  });
}

// `mlxk plan`: size a quantization from config.json alone and say whether it
// fits the machine, before anything is downloaded or converted.
import type { Command } from 'commander';
import { fitReport, type FitReport } from '../quant/fit.js';
import { planQuantization, type QuantPlan } from '../quant/plan.js';
import { tensorTable } from '../models/registry.js';
import { ROLES } from '../models/table.js';
import { createOps } from '../backend/index.js';
import { MlxkError } from '../io/errors.js';
import type { Method } from '../quant/preset.js';
import { addTargetOptions, allocatedPreset, allocateFor, hasTarget, type TargetFlags } from './allocArgs.js';
import { resolveConfigArg } from './modelArg.js';
import { addPresetOptions, type PresetFlags, presetFromFlags } from './presetArgs.js';
import { bothUnits, gb, gib, humanCount, parseBytes, parseCount } from './units.js';

interface PlanFlags extends PresetFlags, TargetFlags {
  bestFit?: boolean;
  calib?: string;
  memory: string;
  context: string;
  reserve?: string;
  json?: boolean;
  modules?: boolean;
}

export function planJson(plan: QuantPlan, fit: FitReport, origin: string, modules = false): Record<string, unknown> {
  return {
    model: origin,
    model_type: plan.table.modelType,
    preset: plan.preset.name,
    preset_description: plan.preset.description,
    params: plan.params,
    bytes: plan.bytes,
    bits_per_weight: (plan.bytes * 8) / plan.params,
    roles: Object.fromEntries([...plan.byRole].map(([role, t]) => [role, { params: t.params, bytes: t.bytes, bits_per_weight: (t.bytes * 8) / t.params }])),
    kv_cache: { bytes_per_token: fit.kvBytesPerToken, context: fit.context, bytes: fit.kvBytes },
    memory: {
      total_bytes: fit.memoryBytes, reserve_bytes: fit.reserveBytes, overhead_bytes: fit.overheadBytes, needed_bytes: fit.totalBytes, fits: fit.fits,
      gpu_bytes: fit.gpuBytes, default_wired_limit_bytes: fit.defaultWiredLimitBytes, needs_wired_limit: fit.needsWiredLimit, wired_limit_mb: fit.wiredLimitMb,
    },
    quantization: plan.quantizationConfig,
    ...(modules ? { modules: plan.modules.map((m) => ({ module: m.module, role: m.role, params: m.params, bits: m.quant?.bits ?? null, group_size: m.quant?.groupSize ?? null, method: m.quant?.method ?? null, reason: m.reason })) } : {}),
  };
}

function printPlan(plan: QuantPlan, fit: FitReport, origin: string, modules: boolean): void {
  const out: string[] = [];
  out.push(`${origin}: ${plan.table.modelType}, ${plan.table.numLayers} layers, preset ${plan.preset.name}`);
  if (plan.preset.name.startsWith('alloc-')) out.push(plan.preset.description);
  out.push('');
  out.push(`${'role'.padEnd(15)}${'params'.padStart(12)}${'bits/w'.padStart(9)}${'size'.padStart(14)}`);
  for (const role of ROLES) {
    const t = plan.byRole.get(role);
    if (!t) continue;
    out.push(`${role.padEnd(15)}${humanCount(t.params).padStart(12)}${((t.bytes * 8) / t.params).toFixed(2).padStart(9)}${gb(t.bytes, 2).padStart(14)}`);
  }
  out.push(`${'total'.padEnd(15)}${humanCount(plan.params).padStart(12)}${((plan.bytes * 8) / plan.params).toFixed(3).padStart(9)}${gb(plan.bytes, 2).padStart(14)}  (${gib(plan.bytes, 2)} on disk and in memory)`);
  out.push('');
  const kvKind = plan.table.arch === 'deepseek_v3' ? 'MLA latent cache' : 'K/V cache';
  out.push(`KV cache (${kvKind}, 16-bit): ${fit.kvBytesPerToken.toLocaleString('en-US')} B/token → ${bothUnits(fit.kvBytes, 2)} at ${fit.context.toLocaleString('en-US')} tokens`);
  out.push(`runtime overhead (estimate): ${gb(fit.overheadBytes)}; OS reserve: ${gib(fit.reserveBytes)}`);
  out.push(`needs ${bothUnits(fit.totalBytes)} of ${bothUnits(fit.memoryBytes)}: ${fit.fits ? 'FITS' : `DOES NOT FIT (${gb(fit.totalBytes - fit.memoryBytes)} over)`}`);
  if (fit.needsWiredLimit) {
    out.push(`GPU memory ${gb(fit.gpuBytes)} exceeds macOS's default wired limit (~75% of RAM = ${gb(fit.defaultWiredLimitBytes)}); raise it with:`);
    out.push(`  sudo sysctl iogpu.wired_limit_mb=${fit.wiredLimitMb}`);
  } else {
    out.push(`GPU memory ${gb(fit.gpuBytes)} is within macOS's default wired limit (~${gb(fit.defaultWiredLimitBytes)})`);
  }
  out.push(WIRED_LIMIT_SCOPE);
  if (modules) {
    out.push('');
    for (const m of plan.modules) {
      const how = m.quant ? `${m.quant.bits}-bit g${m.quant.groupSize} ${m.quant.method}` : plan.table.dtype;
      out.push(`${m.module.padEnd(56)} ${how.padEnd(16)} ${m.reason}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Which engines the wired-limit lines are about (the default backend does not wire memory). */
export const WIRED_LIMIT_SCOPE = '(the wired limit applies to Metal engines: `serve --engine mlx-lm` and `--backend mlx`; the default native backend runs on the CPU from the memory-mapped files and needs none)';

export function registerPlan(program: Command): void {
  const cmd = program
    .command('plan')
    .description('size a quantization from config.json alone: per-role bits and bytes, KV cache, and whether it fits the machine')
    .argument('<model>', 'model directory, HF cache id (ORG/NAME), config.json file, or shipped name (kimi-k2.5, kimi-k2-instruct, deepseek-v3, qwen3-235b-a22b)')
    .option('-m, --memory <size>', 'unified memory of the machine (a "512 GB" Mac has 512GiB)', '512GiB')
    .option('-c, --context <tokens>', 'context length to budget the KV cache for', '131072')
    .option('--reserve <size>', 'memory kept for macOS and other apps (default: 5% of memory, 4–24 GiB)')
    .option('--modules', 'also list every module with its bits and the rule that chose them')
    .option('--json', 'print one JSON object instead of the table')
    .option('--best-fit', 'choose bits per module (as --target-bpw does) for the least estimated loss that fits --memory with --context')
    .option('--calib <file>', 'held-out calibration text for --sensitivity kl (model directories only)');
  addTargetOptions(cmd);
  addPresetOptions(cmd).action(async (model: string, flags: PlanFlags, command: Command) => {
    const { config, origin, dir } = resolveConfigArg(model);
    const table = tensorTable(config, origin);
    const memory = { bytes: parseBytes(flags.memory, '--memory'), context: parseCount(flags.context, '--context'), ...(flags.reserve ? { reserve: parseBytes(flags.reserve, '--reserve') } : {}) };
    let chosen;
    if (hasTarget(flags) || flags.bestFit) {
      if (flags.preset || flags.bits || flags.customQ) throw new MlxkError('--target-bpw / --size / --best-fit choose the bits per module: leave out --preset, --bits and --custom-q');
      const method = (command.getOptionValueSource('method') === 'default' ? 'mse' : flags.method) as Method;
      const a = await allocateFor({
        src: dir, table, origin, how: flags.sensitivity, method, ...(flags.calib ? { calib: flags.calib } : {}),
        tokens: parseCount(flags.sensitivityTokens, '--sensitivity-tokens'), ops: () => createOps(),
      }, flags, flags.bestFit ? memory : undefined);
      chosen = { preset: allocatedPreset(a, a.recipe.params).preset, extraRules: [] };
    } else {
      chosen = presetFromFlags(flags);
    }
    const { preset, extraRules } = chosen;
    const plan = planQuantization(table, preset, extraRules);
    const fit = fitReport(plan, { memoryBytes: memory.bytes, context: memory.context, ...(memory.reserve !== undefined ? { reserveBytes: memory.reserve } : {}) });
    if (flags.json) process.stdout.write(`${JSON.stringify(planJson(plan, fit, origin, flags.modules ?? false), null, 2)}\n`);
    else printPlan(plan, fit, origin, flags.modules ?? false);
  });
}

// `mlxk quantize SRC DST`: convert a checkpoint to MLX format with a preset.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateModelDir } from '../models/validate.js';
import type { Command } from 'commander';
import { createOps } from '../backend/index.js';
import { openCalibration } from '../calib/calibText.js';
import { SequentialCalibration } from '../calib/sequential.js';
import { Checkpoint, resolveModelPath } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { readImatrix } from '../io/imatrixFile.js';
import { tensorTable } from '../models/registry.js';
import { convert, type ConvertOptions, type ConvertProgress, type ConvertReport, finishedConversion } from '../quant/convert.js';
import { importanceFromImatrix } from '../quant/imatrixModules.js';
import { loadPreset, type Method, type Preset, type Rule, usesCalibration } from '../quant/preset.js';
import { readDone } from '../quant/finished.js';
import type { ImportanceByModule } from '../quant/stats.js';
import { writeFileAtomic } from '../io/safetensorsWriter.js';
import { recipeLines, recipePresetJson } from '../quant/recipe.js';
import { addTargetOptions, type Allocated, allocatedPreset, allocateFor, hasTarget, parseContext, type TargetFlags } from './allocArgs.js';
import { addCalibrationOptions, type CalibFlags, calibrationSettings } from './calibArgs.js';
import { addBackendOption, backendArg } from './commonOptions.js';
import { ProgressBar } from './progress.js';
import { addPresetOptions, type PresetFlags, presetFromFlags } from './presetArgs.js';
import { humanBytes, parseBytes } from './units.js';

interface QuantizeFlags extends PresetFlags, TargetFlags, CalibFlags {
  memory?: string;
  context: string;
  reserve?: string;
  force?: boolean;
  threads?: string;
  shardSize: string;
  json?: boolean;
  quiet?: boolean;
  allowNonfinite?: boolean;
  backend?: string;
  imatrix?: string;
}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new MlxkError(`${flag} ${v}: expected a positive number`);
  return n;
}

/** The imatrix's statistics by module of SRC, checked against SRC's tensor table; one line on what it covers. */
function loadImportance(src: string, file: string): { importance: ImportanceByModule; note: string } {
  const ckpt = Checkpoint.open(src);
  const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
  const m = readImatrix(file);
  const { importance, skipped } = importanceFromImatrix(m, table, file, src);
  const quantizable = table.entries.filter((e) => ['linear', 'switch_linear', 'multi_linear'].includes(e.kind)).length;
  const note = `imatrix ${file} (${m.format}${m.datasets.length ? `, from ${m.datasets.join(', ')}` : ''}): ${importance.size} of ${quantizable} weight modules${skipped.length ? `; ${skipped.length} entr${skipped.length === 1 ? 'y' : 'ies'} not used (${skipped[0]}${skipped.length > 1 ? ', …' : ''}: not quantized, or split in the MLX layout)` : ''}`;
  return { importance, note };
}

/** One line on the calibrated modules: output error against RTN's, and experts that got no token. */
function calibrationSummary(r: ConvertReport): string {
  const cal = r.tensors.filter((t) => t.calibration);
  if (cal.length === 0) return '';
  const sum = (f: (c: NonNullable<ConvertReport['tensors'][number]['calibration']>) => number) => cal.reduce((a, t) => a + f(t.calibration!), 0);
  const fallback = sum((c) => c.fallbackSlices);
  return `${cal.length} module(s) quantized against calibration inputs: output error ${(sum((c) => c.outputError) / Math.max(sum((c) => c.rtnOutputError), 1e-30)).toFixed(3)}× round-to-nearest's, ${(sum((c) => c.outputError) / Math.max(sum((c) => c.mseOutputError), 1e-30)).toFixed(3)}× mse's${fallback ? `; ${fallback} expert(s) saw no calibration token and used the layer's shared Hessian` : ''}`;
}

function summary(r: ConvertReport): string {
  if (r.alreadyComplete) return `${r.dst}: already complete with the same settings (preset ${r.preset}, ${r.shards.length} shard(s), ${humanBytes(r.bytes)}, ${r.bitsPerWeight.toFixed(3)} bits per weight); nothing written`;
  const mbps = r.sourceBytesRead / 1e6 / Math.max(r.seconds, 1e-3);
  const worst = r.tensors.filter((t) => t.relRmsError !== null).sort((a, b) => b.relRmsError! - a.relRmsError!)[0];
  return [
    `wrote ${r.dst}: ${r.shards.length} shard(s), ${humanBytes(r.bytes)}, ${r.bitsPerWeight.toFixed(3)} bits per weight (preset ${r.preset})`,
    `read ${humanBytes(r.sourceBytesRead)} of source in ${r.seconds.toFixed(1)} s (${mbps.toFixed(1)} MB/s), peak memory ${humanBytes(r.peakRssBytes)}${r.resumedShards ? `, resumed after ${r.resumedShards} finished shard(s)` : ''}`,
    worst ? `largest relative RMS error: ${worst.relRmsError!.toFixed(4)} (${worst.name}, ${worst.bits}-bit)` : '',
    calibrationSummary(r),
  ].filter(Boolean).join('\n');
}

/** The recipe's preset (reusable with --preset FILE) and the sensitivity table, beside the model. */
export const RECIPE_FILE = 'mlxk-recipe.json';
export const SENSITIVITY_FILE = 'mlxk-sensitivity.json';

function writeAllocation(dst: string, a: Allocated, preset: Preset): void {
  writeFileAtomic(join(dst, RECIPE_FILE), `${JSON.stringify(recipePresetJson(a.recipe, preset.name, preset.description), null, 1)}\n`);
  writeFileAtomic(join(dst, SENSITIVITY_FILE), `${JSON.stringify(a.table, null, 1)}\n`);
}

function allocationNotes(a: Allocated, preset: Preset): string[] {
  return [
    `recipe: ${preset.description} Reuse it with \`mlxk quantize SRC DST --preset ${RECIPE_FILE}\`; losses in \`${SENSITIVITY_FILE}\`.`,
    ...recipeLines(a.recipe).map((l) => `\`${l.replace(/\s+/g, ' ')}\``),
  ];
}

/**
 * The flags that decide a size target's recipe, with a digest of each file they name (a
 * sensitivity table, the --calib text): a finished output recorded with the same ones holds the
 * recipe this run would measure its way to.
 */
function allocationSettings(flags: QuantizeFlags, method: Method): Record<string, unknown> {
  const digest = (path: string) => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  const how = flags.sensitivity;
  return {
    '--target-bpw': flags.targetBpw ?? null,
    '--size': flags.size ?? null,
    '--memory': flags.memory ?? null,
    '--context': flags.memory !== undefined ? flags.context : null,
    '--reserve': flags.reserve ?? null,
    '--method': method,
    '--sensitivity': how === undefined || ['kl', 'proxy', 'prior'].includes(how) ? (how ?? null) : digest(how),
    '--sensitivity-tokens': flags.sensitivityTokens,
    '--calib': flags.calib ? `sha256:${openCalibration(flags.calib).sha256}` : null,
  };
}

/** The recipe a finished output in DST was made with, when it was chosen from these same allocation flags; else null. */
function recordedRecipe(dst: string, allocation: Record<string, unknown>): Preset | null {
  const done = existsSync(dst) ? readDone(dst) : null;
  const recipe = join(dst, RECIPE_FILE);
  if (!done || JSON.stringify(done.settings.allocation ?? null) !== JSON.stringify(allocation) || !existsSync(recipe)) return null;
  return loadPreset(recipe);
}

export function registerQuantize(program: Command): void {
  const cmd = program
    .command('quantize')
    .description('convert a Hugging Face (bf16, fp8, INT4, NVFP4) or MLX checkpoint into an MLX checkpoint with per-module mixed precision; streams, resumes, never touches the source')
    .argument('<src>', 'source model directory or HF cache id (ORG/NAME)')
    .argument('<dst>', 'output directory (must be empty, or a conversion with the same settings: an unfinished one resumes, a finished one is reported complete)')
    .option('-f, --force', 'overwrite model files already in <dst>')
    .option('-t, --threads <n>', 'worker threads for the quantization math (default: all cores)')
    .option('--shard-size <size>', 'largest output shard', '5GiB')
    .option('--json', 'print the report (per-tensor bits, method and relative RMS error) as JSON on stdout')
    .option('-q, --quiet', 'no progress bar')
    .option('--allow-nonfinite', 'quantize tensors holding NaN/Inf values instead of refusing them')
    .option('--imatrix <file>', 'llama.cpp importance matrix (GGUF or legacy .dat, from llama-imatrix or `mlxk imatrix`) of this model: per-column input statistics for the weighted fitting methods')
    .option('--memory <size>', 'like --target-bpw: the best recipe whose weights, KV cache at --context, runtime overhead and OS reserve fit this much memory (as `plan` counts them)')
    .option('-c, --context <tokens>', 'context length the KV cache is budgeted for with --memory', '131072')
    .option('--reserve <size>', 'memory kept for the OS with --memory (default: 5% of memory, 4–24 GiB)');
  addCalibrationOptions(cmd);
  addBackendOption(cmd);
  addTargetOptions(cmd);
  addPresetOptions(cmd).action(async (src: string, dst: string, flags: QuantizeFlags, command: Command) => {
    const allocating = hasTarget(flags) || flags.memory !== undefined;
    if (allocating && (flags.preset || flags.bits || flags.customQ)) throw new MlxkError('--target-bpw / --size / --memory choose the bits per module: leave out --preset, --bits and --custom-q');
    const method = (command.getOptionValueSource('method') === 'default' ? 'mse' : flags.method) as Method;
    const allocation = allocating ? allocationSettings(flags, method) : undefined;
    // A finished output from the same target and sensitivity inputs is reported complete before
    // the sensitivity pass (hours on a large model) runs again to choose the same recipe.
    const recorded = allocation && !flags.force ? recordedRecipe(dst, allocation) : null;
    if (recorded) {
      // measuresOnCalib: the run that finished it accepted these same flags.
      const { options, calibration } = conversionOptions(src, dst, flags, recorded, [], allocation, [], true);
      calibration?.close();
      const report = finishedConversion(options);
      if (report) {
        printReport(report, flags);
        return;
      }
    }
    let allocated: Allocated | null = null;
    let chosen: { preset: Preset; extraRules: Rule[] };
    if (allocating) {
      const ckpt = Checkpoint.open(resolveModelPath(src));
      const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
      ckpt.close();
      const sensBar = new ProgressBar('sensitivity', process.stderr, !flags.quiet);
      allocated = await allocateFor({
        src: resolveModelPath(src), table, origin: src, how: flags.sensitivity, method, ...(flags.calib ? { calib: flags.calib } : {}),
        tokens: Math.floor(positive(flags.sensitivityTokens, '--sensitivity-tokens')), ops: () => createOps(backendArg(flags.backend)),
        onProgress: (p) => sensBar.update({ done: p.done, total: p.total, detail: p.unit }),
      }, flags, flags.memory !== undefined ? { bytes: parseBytes(flags.memory, '--memory'), context: parseContext(flags.context), ...(flags.reserve ? { reserve: parseBytes(flags.reserve, '--reserve') } : {}) } : undefined);
      sensBar.done();
      chosen = { preset: allocatedPreset(allocated, allocated.recipe.params).preset, extraRules: [] };
    } else {
      chosen = presetFromFlags(flags);
    }
    const { preset, extraRules } = chosen;
    const bar = new ProgressBar('quantize', process.stderr, !flags.quiet);
    const calibBar = new ProgressBar('calibrate', process.stderr, !flags.quiet);
    const started = Date.now();
    const onProgress = (p: ConvertProgress) => {
      const secs = (Date.now() - started) / 1000;
      bar.update({ done: p.bytesDone, total: p.bytesTotal, detail: `${p.modulesDone}/${p.modulesTotal} modules · ${humanBytes(p.bytesDone)}/${humanBytes(p.bytesTotal)} · ${(p.sourceBytesRead / 1e6 / Math.max(secs, 1e-3)).toFixed(0)} MB/s` });
    };
    const { options, calibration } = conversionOptions(src, dst, flags, preset, extraRules, allocation, allocated ? allocationNotes(allocated, preset) : [], allocated?.table.source === 'kl', calibBar);
    let report: ConvertReport;
    try {
      report = await convert({ ...options, onProgress });
    } catch (e) {
      calibration?.close();
      throw e;
    }
    calibration?.finish();
    calibBar.done();
    bar.done();
    if (allocated) writeAllocation(dst, allocated, preset);
    printReport(report, flags);
  });
}

function printReport(report: ConvertReport, flags: QuantizeFlags): void {
  if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${summary(report)}\n`);
}

/**
 * What `convert` gets from the flags and the chosen preset (the calibration pass opened when the
 * preset needs it: the caller closes or finishes it). The checks on --calib and --imatrix come first.
 */
function conversionOptions(src: string, dst: string, flags: QuantizeFlags, preset: Preset, extraRules: Rule[], allocation: Record<string, unknown> | undefined, notes: string[], measuresOnCalib = false, calibBar?: ProgressBar): { options: ConvertOptions; calibration: SequentialCalibration | undefined } {
  const calibrated = usesCalibration(preset, extraRules);
  if (calibrated && !flags.calib) throw new MlxkError('--method gptq / learned quantizes against calibration inputs: pass --calib FILE or --calib default', 'default is the shipped set (calib/); your own: a few hundred KB of text like what the model will see, never the evaluation text');
  if (!calibrated && !measuresOnCalib && flags.calib) throw new MlxkError('--calib is only used by --method gptq or learned (or preset rules with "method": "gptq" / "learned"), and by --sensitivity kl');
  const imatrix = flags.imatrix ? loadImportance(src, flags.imatrix) : undefined;
  if (imatrix && !flags.quiet && !flags.json && calibBar) process.stderr.write(`${imatrix.note}\n`);
  validateModelDir(src);
  const calibration = calibrated && flags.calib
    ? new SequentialCalibration(src, dst, preset, extraRules, createOps(backendArg(flags.backend)), calibrationSettings(flags), calibBar ? (p) => calibBar.update({ done: p.blocksDone, total: p.blocksTotal, detail: `block ${Math.min(p.blocksDone + 1, p.blocksTotal)}/${p.blocksTotal} ${p.stage} · ${Number.isFinite(p.secondsPerBlock) ? `${p.secondsPerBlock.toFixed(1)} s/block, blocks left ${Math.round(p.etaSeconds)} s` : 'first block'}` }) : undefined)
    : undefined;
  const options: ConvertOptions = {
    src, dst, preset, extraRules,
    force: flags.force ?? false,
    allowNonFinite: flags.allowNonfinite ?? false,
    maxShardBytes: parseBytes(flags.shardSize, '--shard-size'),
    ...(flags.threads ? { threads: Number(flags.threads) } : {}),
    ...(imatrix ? { importance: imatrix.importance } : {}),
    ...(calibration ? { precomputed: calibration, precomputedId: calibration.id, calibrationSettings: calibration.settings } : {}),
    ...(allocation ? { allocationSettings: allocation } : {}),
    cardNotes: [...(calibration?.cardNotes() ?? []), ...notes],
  };
  return { options, calibration };
}

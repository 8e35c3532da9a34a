// `mlxk eval-quants SRC --presets a,b,c --data FILE`: quantize with each preset and
// report size, bits per weight, perplexity, ΔPPL, KL divergence and decode speed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createOps } from '../backend/index.js';
import { tokenizeFile } from '../bench/data.js';
import { evalQuants, type EvalPhase } from '../bench/evalQuants.js';
import { type EvalQuantsReport, evalQuantsMarkdown, evalQuantsSvg, type ReferencePoints } from '../bench/evalQuantsReport.js';
import { finishMachineInfo, machineInfo } from '../bench/machine.js';
import { processMemoryProbe } from '../bench/memory.js';
import { wallClock } from '../bench/trial.js';
import { parseVariants, type QuantVariant, type TargetPreset } from '../bench/variants.js';
import { proxyTable } from '../calib/sensitivity.js';
import { Checkpoint } from '../io/checkpoint.js';
import { tensorTable } from '../models/registry.js';
import { allocateRecipe, lossMatrix, recipePreset, recipeSizes, type SensitivityTable } from '../quant/recipe.js';
import { readSensitivityFile } from './allocArgs.js';
import { planWindows } from '../bench/windows.js';
import { resolveModelPath } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { loadModel } from '../models/load.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { SequentialCalibration } from '../calib/sequential.js';
import { usesCalibration } from '../quant/preset.js';
import type { VariantCalibration } from '../bench/evalQuants.js';
import { addCalibrationOptions, type CalibFlags, calibrationSettings } from './calibArgs.js';
import { addMeasureOptions, backendArg } from './commonOptions.js';
import { interruptible } from './interrupt.js';
import { commandLine, positiveInt, reportPaths, writeReportFiles } from './measureArgs.js';
import { ProgressBar } from './progress.js';

interface EvalQuantsFlags extends CalibFlags {
  reference?: string;
  sensitivity?: string;
  presets?: string;
  data?: string;
  seqLen: string;
  maxWindows?: string;
  outDir?: string;
  decodeTokens: string;
  decodePrompt: string;
  repetitions: string;
  backend?: string;
  out?: string;
  note?: string[];
  json?: boolean;
  quiet?: boolean;
}

function phaseText(p: EvalPhase): { done: number; total: number; detail: string } {
  switch (p.phase) {
    case 'quantize':
      return { done: p.index + p.progress.bytesDone / Math.max(1, p.progress.bytesTotal), total: p.count, detail: `quantizing ${p.variant} (${p.index + 1}/${p.count})` };
    case 'perplexity':
      return { done: p.done, total: p.total, detail: `perplexity and KLD: ${p.done}/${p.total} windows` };
    case 'decode':
      return { done: p.round * p.count + p.index, total: (p.rounds + 1) * p.count, detail: `decode speed: round ${p.round}/${p.rounds}` };
  }
}

function readReferences(file: string): ReferencePoints {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MlxkError(`--reference ${file}: not a readable JSON file (${(e as Error).message})`);
  }
  const r = json as ReferencePoints;
  const ok = typeof r?.source === 'string' && Array.isArray(r.points) && r.points.every((p) => typeof p.label === 'string' && typeof p.bitsPerWeight === 'number' && (p.deltaPplPercent === null || typeof p.deltaPplPercent === 'number') && (p.kld === null || typeof p.kld === 'number'));
  if (!ok) throw new MlxkError(`--reference ${file}: expected {"source": "...", "points": [{"label", "bitsPerWeight", "deltaPplPercent" (or null), "kld" (or null)}]}`);
  return r;
}

/** `bpwB` items: the allocation for B bits per weight from a sensitivity table file or the weight proxy. */
function targetPresets(src: string, how: string): TargetPreset {
  const ckpt = Checkpoint.open(src);
  const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
  ckpt.close();
  const sizes = recipeSizes(table);
  const tables = new Map<string, SensitivityTable>();
  return (bpw, method) => {
    let s = tables.get(method);
    if (!s) {
      s = how === 'proxy' ? proxyTable({ src, method }) : readSensitivityFile(how);
      tables.set(method, s);
    }
    const r = allocateRecipe(sizes, lossMatrix(sizes, s, how), (bpw * sizes.params) / 8, method);
    const description = `Allocated by mlxk for ${bpw} bits per weight from ${s.source} sensitivities (${s.note}), method ${method}: ${((r.bytes * 8) / sizes.params).toFixed(3)} bits per weight, estimated loss ${r.estimatedLoss.toExponential(3)}.`;
    return recipePreset(r, `bpw${bpw}`, description);
  };
}

export function registerEvalQuants(program: Command): void {
  const cmd = program
    .command('eval-quants')
    .description('quantize a model with several presets and compare them with it: size, bits per weight, perplexity, ΔPPL, KL divergence, top-1 agreement, decode speed (markdown, JSON, SVG)')
    .argument('<src>', 'source model directory or HF cache id (the reference)')
    .option('--presets <list>', 'comma-separated presets (names or files); add :mse, :rtn, :wmse, :gptq or :learned and :g32/:g64/:g128 to change the quantizer or group size, e.g. q4:mse:g32, bpw3.11:gptq (gptq / learned need --calib)')
    .option('--data <file>', 'UTF-8 text for perplexity and KL divergence')
    .option('--seq-len <n>', 'window length in tokens', '512')
    .option('--max-windows <n>', 'evaluate only the first N windows')
    .option('--out-dir <dir>', 'keep the quantized models here (default: a temporary directory, removed at the end)')
    .option('--decode-tokens <n>', 'tokens generated per decode-speed trial', '128')
    .option('--decode-prompt <n>', 'random prompt tokens before the decode-speed trials', '64')
    .option('-r, --repetitions <n>', 'decode-speed trials per model', '3')
    .option('--reference <file>', 'another tool\'s results on the same data, drawn on the chart as reference marks: JSON {"source": "...", "points": [{"label", "bitsPerWeight", "deltaPplPercent", "kld"}]}')
    .option('--sensitivity <file|proxy>', 'losses for bpwB items in --presets (a table from mlxk sensitivity, or proxy)');
  addCalibrationOptions(cmd);
  addMeasureOptions(cmd, { outHelp: 'write FILE.md, FILE.json and FILE.svg' })
    .action(async (srcArg: string, flags: EvalQuantsFlags) => {
      if (!flags.presets) throw new MlxkError('--presets is required (e.g. --presets q8,q4,mixed_3_6)');
      if (!flags.data) throw new MlxkError('--data FILE is required (the text to evaluate on)');
      const backend = backendArg(flags.backend);
      const references = flags.reference ? readReferences(flags.reference) : undefined;
      const src = resolveModelPath(srcArg);
      const variants = parseVariants(flags.presets, flags.sensitivity ? targetPresets(src, flags.sensitivity) : undefined);
      const calibrated = variants.filter((v) => usesCalibration(v.preset)).map((v) => v.name);
      if (calibrated.length > 0 && !flags.calib) throw new MlxkError(`--presets ${calibrated.join(', ')}: gptq / learned quantize against calibration inputs: pass --calib FILE or --calib default`, 'default is the shipped set (calib/); never the evaluation text');
      if (calibrated.length === 0 && flags.calib) throw new MlxkError('--calib is only used by presets with :gptq or :learned');
      const calibOpts = flags.calib ? calibrationSettings(flags) : null;
      const calibNotes = new Map<string, string[]>();
      // The same settings for every calibrated variant; each gets its own pass (its earlier blocks' quantization differs).
      const calibrate = (v: QuantVariant, dst: string): VariantCalibration | undefined => {
        if (!calibOpts || !usesCalibration(v.preset)) return undefined;
        const c = new SequentialCalibration(src, dst, v.preset, [], createOps(backend), calibOpts);
        const notes = c.cardNotes();
        calibNotes.set(v.name, notes);
        return { source: c, id: c.id, notes, finish: () => c.finish(), close: () => c.close() };
      };
      const data = tokenizeFile(flags.data, loadTokenizer(src));
      const plan = planWindows(data.ids, positiveInt(flags.seqLen, '--seq-len')!, positiveInt(flags.maxWindows, '--max-windows'));
      const decode = { tokens: positiveInt(flags.decodeTokens, '--decode-tokens')!, prompt: positiveInt(flags.decodePrompt, '--decode-prompt')!, repetitions: positiveInt(flags.repetitions, '--repetitions')! };
      const outDir = flags.outDir ?? mkdtempSync(join(tmpdir(), 'mlxk-eval-quants-'));
      const machine = machineInfo();
      const command = commandLine();
      // One bar per phase: quantize, perplexity, decode.
      let bar: ProgressBar | null = null;
      let phase = '';
      const progress = (p: EvalPhase) => {
        if (p.phase !== phase) {
          bar?.done();
          phase = p.phase;
          bar = new ProgressBar(phase, process.stderr, !flags.quiet);
        }
        bar!.update(phaseText(p));
      };
      let backendName = '';
      try {
        const result = await interruptible((signal) =>
          evalQuants({
            src, variants, windows: plan.windows, outDir, decode, clock: wallClock, memory: processMemoryProbe(), signal, calibrate,
            load: async (dir) => {
              const m = (await loadModel(dir, createOps(backend))).model;
              backendName = m.ops.name;
              return m;
            },
            onProgress: progress,
          }),
        );
        (bar as ProgressBar | null)?.done();
        const report: EvalQuantsReport = {
          command, notes: [...(flags.note ?? []), ...[...calibNotes].map(([name, lines]) => `${name}: ${lines.join('; ')}`)], machine: finishMachineInfo(machine), backend: backendName, date: new Date().toISOString().slice(0, 10),
          data: { file: flags.data, sha256: data.sha256, tokens: data.ids.length, windowsAvailable: plan.available },
          ...result,
          // The source as the command names it, so the report reads the same on any machine.
          source: { ...result.source, dir: srcArg },
          ...(references ? { references } : {}),
        };
        if (flags.out) {
          writeReportFiles(flags.out, { md: evalQuantsMarkdown(report), json: report, svg: evalQuantsSvg(report) });
          process.stderr.write(`wrote ${Object.values(reportPaths(flags.out)).join(', ')}\n`);
        }
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : evalQuantsMarkdown(report));
      } finally {
        if (!flags.outDir) rmSync(outDir, { recursive: true, force: true });
      }
    });
}

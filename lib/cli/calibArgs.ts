// The calibration flags of the verbs that run GPTQ / learned rounding (quantize, eval-quants),
// spelled, defaulted and checked the same way in both.
import type { Command } from 'commander';
import type { CalibrationOptions } from '../calib/sequential.js';
import { MlxkError } from '../io/errors.js';

export interface CalibFlags {
  calib?: string;
  calibTokens: string;
  calibSeq: string;
  damp: string;
  actOrder: boolean;
  iters: string;
}

export function addCalibrationOptions(cmd: Command): Command {
  return cmd
    .option('--calib <file>', 'calibration text for --method gptq / learned: "default" (the shipped set, calib/), a text file, or chat JSONL (.jsonl: {"messages": [...]} per line, rendered through the model\'s chat template); never the text you evaluate on')
    .option('--calib-tokens <n>', 'most calibration tokens used', '65536')
    .option('--calib-seq <n>', 'tokens per calibration sequence', '512')
    .option('--damp <f>', 'GPTQ damping: this fraction of the mean Hessian diagonal is added to it', '0.01')
    .option('--no-act-order', 'GPTQ in column order instead of by descending Hessian diagonal (static groups either way)')
    .option('--iters <n>', 'rounds of learned rounding (code sweep + scale/bias refit) per row for --method learned', '4');
}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new MlxkError(`${flag} ${v}: expected a positive number`);
  return n;
}

/** The calibration pass's settings from the flags (the file itself from --calib, checked by the caller). */
export function calibrationSettings(flags: CalibFlags): CalibrationOptions {
  return {
    calibFile: flags.calib!,
    maxTokens: Math.floor(positive(flags.calibTokens, '--calib-tokens')),
    seqLen: Math.floor(positive(flags.calibSeq, '--calib-seq')),
    damp: positive(flags.damp, '--damp'),
    actOrder: flags.actOrder,
    iters: Math.floor(positive(flags.iters, '--iters')),
  };
}

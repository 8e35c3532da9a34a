// The flags that choose how to quantize, shared by `plan` and `quantize`:
// --preset NAME|FILE, or --bits B [--group-size G] [--method M], plus
// --custom-q 'regex=type,...' rules that take precedence over the preset.
import type { Command } from 'commander';
import { MlxkError } from '../io/errors.js';
import { builtinPresetNames, loadPreset, type Method, parseCustomQ, type Preset, type Rule, uniformPreset } from '../quant/preset.js';
import { repeatable } from './commonOptions.js';

export interface PresetFlags {
  preset?: string;
  bits?: string;
  groupSize?: string;
  method?: string;
  customQ?: string[];
}

export function addPresetOptions(cmd: Command): Command {
  return cmd
    .option('-p, --preset <name|file>', `quantization preset: built-in (${builtinPresetNames().join(', ')}), a preset .json, or a file of llama.cpp custom-q lines`)
    .option('-b, --bits <n>', 'uniform quantization at this many bits (2, 3, 4, 5, 6, 8) instead of a preset')
    .option('-g, --group-size <n>', 'group size with --bits (32, 64, 128)', '64')
    .option('--method <m>', 'quantizer with --bits: rtn (MLX round-to-nearest), mse (per-group error-minimising search), wmse (importance-weighted mse: weights from an imatrix when one is given, else from the weights themselves), gptq (error feedback against calibration inputs; needs --calib) or learned (GPTQ then learned rounding; needs --calib)', 'rtn')
    .option('--custom-q <rules>', "extra rules before the preset's, llama.cpp style: 'regex=type[,regex=type]' (e.g. 'ffn_down_exps=q4_K'); repeatable", repeatable);
}

export function presetFromFlags(flags: PresetFlags): { preset: Preset; extraRules: Rule[] } {
  if (flags.preset && flags.bits) throw new MlxkError('use either --preset or --bits, not both');
  let preset: Preset;
  if (flags.preset) preset = loadPreset(flags.preset);
  else if (flags.bits) preset = uniformPreset(Number(flags.bits), Number(flags.groupSize ?? 64), (flags.method ?? 'rtn') as Method);
  else throw new MlxkError('say how to quantize: --preset NAME or --bits N', `built-in presets: ${builtinPresetNames().join(', ')}`);
  const extraRules = (flags.customQ ?? []).flatMap((text) => parseCustomQ(text, `--custom-q '${text}'`));
  return { preset, extraRules };
}

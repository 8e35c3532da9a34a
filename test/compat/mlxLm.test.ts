// mlx-lm compatibility, both ways, against mlx-lm itself (mlx_lm_compat.py):
// - every kind of checkpoint mlxk writes (CASES: each preset, every width × group size, each
//   method, INT4/FP8/NVFP4 sources, the bundled model) loads with mlx-lm's loader, and its float32
//   logits equal mlxk's mlx backend (float32, same dequantized weights) to 1e-4 of the largest
//   logit, and agree in top-1 with mlxk's native backend (16-bit activations) at ≥ 95% of positions;
// - checkpoints mlx-lm's quantizer writes (q2–q8, its mixed recipes) load in mlxk with the same
//   agreement.
// A failure names the case, mlx-lm's error (which names the parameter) and the config key.
// Needs a Python where `import mlx_lm` works: MLXK_MLX_LM_PYTHONPATH (prepended to PYTHONPATH)
// and MLXK_MLX_LM_PYTHON (default python3); without one the file reports that it did not run.
// On a machine without transformers / huggingface_hub (no PyPI), pystub/ stands in for them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { convert } from '../../lib/quant/convert.js';
import { builtinPresetNames, loadPreset, METHODS, type Preset, uniformPreset } from '../../lib/quant/preset.js';
import { MLXK, tmpDir, TINY_KIMI } from '../helpers.js';
import { agree, env, IDS, python, quantKey } from './shared.js';


const work = tmpDir('mlxk-compat-');

interface Case {
  name: string;
  /** Writes the checkpoint into dir (or returns an existing directory). */
  make: (dir: string) => Promise<string>;
}

const quantized = (preset: () => Preset, src = TINY_KIMI) => async (dir: string) => {
  await convert({ src, dst: dir, preset: preset(), threads: 1 });
  return dir;
};
const synthSource = (format: string) => async (dir: string) => {
  const src = `${dir}-src`;
  const r = spawnSync(process.execPath, [MLXK, 'synth', 'kimi_k25', src, '--layers', '2', '--experts', '8', '--hidden', '256', '--moe-intermediate', '128', '--intermediate', '512', '--vocab', '512', '--heads', '4', '--format', format, '--quiet'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  await convert({ src, dst: dir, preset: loadPreset('kimi-k2.5-2.5bit'), threads: 1 });
  return dir;
};

/** Every kind of checkpoint mlxk writes; add a row when a method or preset lands. */
export const CASES: Case[] = [
  { name: 'bundled tiny-kimi (bf16, unquantized)', make: async () => TINY_KIMI },
  ...builtinPresetNames().map((p) => ({ name: `preset ${p}`, make: quantized(() => loadPreset(p)) })),
  // group 64 at every width is the q2–q8 presets above
  ...[2, 3, 4, 5, 6, 8].flatMap((b) => [32, 128].map((g) => ({ name: `${b}-bit g${g} rtn`, make: quantized(() => uniformPreset(b, g, 'rtn')) }))),
  ...METHODS.filter((m) => m !== 'rtn').flatMap((m) => [3, 4].map((b) => ({ name: `${b}-bit g64 ${m}`, make: quantized(() => uniformPreset(b, 64, m)) }))),
  ...['int4', 'fp8', 'nvfp4'].map((f) => ({ name: `kimi_k25 from ${f} source, kimi-k2.5-2.5bit`, make: synthSource(f) })),
];

test('mlxk checkpoints of every kind load in mlx-lm and give mlxk\'s logits', async () => {
  if (!env.python) {
    console.log(`  NOT RUN: ${env.reason}`);
    return;
  }
  const dirs: string[] = [];
  for (const [i, c] of CASES.entries()) dirs.push(await c.make(join(work, `mlxk-${i}`)));
  const jobs = dirs.map((model, i) => ({ model, ids: model === TINY_KIMI || !CASES[i]!.name.includes('source') ? IDS : IDS.map((t) => t % 512), out: join(work, `theirs-${i}.f32`) }));
  const { results, mlx } = python({ op: 'logits', jobs });
  const failures: string[] = [];
  const lines: string[] = [];
  for (const [i, r] of results.entries()) {
    const name = CASES[i]!.name;
    if (!r.ok) {
      failures.push(`${name}: mlx-lm's loader failed: ${r.error}\n  ${quantKey(dirs[i]!)}`);
      continue;
    }
    const vocab = r.shape![1]!;
    const buf = readFileSync(jobs[i]!.out);
    try {
      lines.push(await agree(name, dirs[i]!, new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), jobs[i]!.ids, vocab));
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  console.log(`  mlx ${mlx}: ${lines.length} of ${CASES.length} checkpoints agree\n    ${lines.join('\n    ')}`);
  assert.equal(failures, [], failures.join('\n'));
});

test.run();

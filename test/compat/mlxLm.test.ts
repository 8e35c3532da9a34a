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
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import type { Ops } from '../../lib/backend/ops.js';
import { readJson } from '../../lib/io/checkpoint.js';
import { loadModel } from '../../lib/models/load.js';
import { convert } from '../../lib/quant/convert.js';
import { builtinPresetNames, loadPreset, METHODS, type Preset, uniformPreset } from '../../lib/quant/preset.js';
import { MLXK, REPO, tmpDir, TINY_KIMI } from '../helpers.js';
import { argmaxRow, compareLogits, Goldens } from '../models/goldenFiles.js';
import { mlxLmEnv } from './env.js';

const env = mlxLmEnv();
const VOCAB = 4128;
const goldens = new Goldens(join(TINY_KIMI, 'golden.safetensors'));
/** 96 positions of the golden sequences, one after another. */
const IDS = [0, 1, 2, 3, 4].flatMap((i) => goldens.ints(`seq${i}.input_ids`)).slice(0, 96);
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
  ...[2, 3, 4, 5, 6, 8].flatMap((b) => [32, 64, 128].map((g) => ({ name: `${b}-bit g${g} rtn`, make: quantized(() => uniformPreset(b, g, 'rtn')) }))),
  ...METHODS.filter((m) => m !== 'rtn').flatMap((m) => [3, 4].map((b) => ({ name: `${b}-bit g64 ${m}`, make: quantized(() => uniformPreset(b, 64, m)) }))),
  ...['int4', 'fp8', 'nvfp4'].map((f) => ({ name: `kimi_k25 from ${f} source, kimi-k2.5-2.5bit`, make: synthSource(f) })),
];

/** mlx-lm's quantizer: uniform widths (group 64) and its mixed recipes. */
const MLX_LM_WRITES = [...[2, 3, 4, 5, 6, 8].map((b) => ({ name: `mlx_lm q${b}`, bits: b, recipe: null as string | null })), ...['mixed_2_6', 'mixed_3_4', 'mixed_3_6', 'mixed_4_6'].map((r) => ({ name: `mlx_lm ${r}`, bits: 4, recipe: r }))];

function python(req: unknown): { results: { ok: boolean; error?: string; trace?: string; shape?: number[] }[]; mlx: string } {
  const r = spawnSync(env.python!, [join(REPO, 'test', 'compat', 'mlx_lm_compat.py')], { input: JSON.stringify(req), encoding: 'utf8', env: env.env, maxBuffer: 1 << 26 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function mlxkLogits(dir: string, ops: Ops, ids: number[]): Promise<Float32Array> {
  const { model } = await loadModel(dir, ops);
  return ops.read(model.forward(ids, model.newCache(), { allLogits: true }));
}

function quantKey(dir: string): string {
  const cfg = readJson(join(dir, 'config.json'));
  const q = cfg.quantization ?? (cfg.text_config as Record<string, unknown> | undefined)?.quantization;
  return q ? `config.json quantization ${JSON.stringify(q).slice(0, 400)}` : 'config.json: no quantization';
}

/** Both mlxk backends against mlx-lm's logits of the same checkpoint; the messages name the case. */
async function agree(name: string, dir: string, theirs: Float32Array, ids: number[], vocab: number): Promise<string> {
  const mlx = compareLogits(await mlxkLogits(dir, new MlxOps(), ids), theirs, vocab);
  const nat = await mlxkLogits(dir, new NativeOps({ activationBits: 16 }), ids);
  let top1 = 0;
  for (let r = 0; r < ids.length; r++) if (argmaxRow(nat, r, vocab) === argmaxRow(theirs, r, vocab)) top1++;
  const line = `${name}: mlx backend rel ${mlx.rel.toExponential(2)}, top-1 ${mlx.top1}/${mlx.positions}; native top-1 ${top1}/${ids.length}`;
  assert.ok(mlx.rel <= 1e-4 && top1 >= 0.95 * ids.length, `${line}\n  ${quantKey(dir)}`);
  return line;
}

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

test('checkpoints mlx-lm writes (q2–q8, mixed recipes) load in mlxk with the same agreement', async () => {
  if (!env.python) {
    console.log(`  NOT RUN: ${env.reason}`);
    return;
  }
  const jobs = MLX_LM_WRITES.map((c, i) => ({ model: TINY_KIMI, out: join(work, `theirs-ckpt-${i}`), bits: c.bits, group_size: 64, recipe: c.recipe }));
  const written = python({ op: 'convert', jobs });
  written.results.forEach((r, i) => assert.ok(r.ok, `${MLX_LM_WRITES[i]!.name}: ${r.error}\n${r.trace}`));
  const logitJobs = jobs.map((j, i) => ({ model: j.out, ids: IDS, out: join(work, `theirs-ckpt-${i}.f32`) }));
  const { results } = python({ op: 'logits', jobs: logitJobs });
  const lines: string[] = [];
  for (const [i, r] of results.entries()) {
    assert.ok(r.ok, `${MLX_LM_WRITES[i]!.name}: ${r.error}`);
    const buf = readFileSync(logitJobs[i]!.out);
    lines.push(await agree(MLX_LM_WRITES[i]!.name, jobs[i]!.out, new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), IDS, VOCAB));
  }
  console.log(`    ${lines.join('\n    ')}`);
  assert.ok(existsSync(join(jobs[0]!.out, 'config.json')));
  writeFileSync(join(work, 'done'), '');
});

test.run();

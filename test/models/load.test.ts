// Loading: the Kimi-K2.5 wrapper, HF source formats that need conversion first, and
// bad checkpoints (unknown architecture, a missing tensor, a wrong shape) — each a
// one-line error naming what is wrong.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { synthConfig } from '../../lib/cli/synth.js';
import { Checkpoint, type JsonObject } from '../../lib/io/checkpoint.js';
import { CheckpointError, MlxkError } from '../../lib/io/errors.js';
import { writeSafetensors } from '../../lib/io/safetensorsWriter.js';
import { loadModel } from '../../lib/models/load.js';
import { synthesize } from '../../lib/models/synth.js';
import { REPO, rejects, tmpDir } from '../helpers.js';

const ops = new MlxOps();
const work = tmpDir();
const LLAMA = join(REPO, 'test', 'fixtures', 'models', 'llama');
const flags = { format: 'float', seed: '1', std: '0.02', shardSize: '5GiB' };

async function logits(dir: string, ids: number[]): Promise<Float32Array> {
  const { model } = await loadModel(dir, ops);
  return ops.read(model.forward(ids, model.newCache(), { allLogits: true }));
}

/** The llama fixture with its config edited and/or a tensor left out. */
function llamaVariant(name: string, edit: (cfg: JsonObject) => void, drop?: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const cfg = JSON.parse(readFileSync(join(LLAMA, 'config.json'), 'utf8')) as JsonObject;
  edit(cfg);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  if (!drop) {
    copyFileSync(join(LLAMA, 'model.safetensors'), join(dir, 'model.safetensors'));
    return dir;
  }
  const ck = Checkpoint.open(LLAMA);
  const tensors = [...ck.tensors.values()].filter((t) => t.name !== drop).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: ck.read(t.name) }));
  ck.close();
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

test('kimi_k25 (text model under text_config and language_model.) computes what kimi_k2 does with the same weights', async () => {
  const k25 = join(work, 'k25');
  const k2 = join(work, 'k2');
  synthesize({ config: synthConfig('kimi_k25', flags), out: k25, seed: 3 });
  synthesize({ config: synthConfig('kimi_k2', flags), out: k2, seed: 3 });
  const ids = [1, 2, 3, 4, 5];
  const a = await logits(k25, ids);
  assert.ok(a.some((v) => v !== 0));
  assert.equal(Array.from(a), Array.from(await logits(k2, ids)));
});

test('an FP8 release is refused with the conversion command', async () => {
  const dir = join(work, 'fp8');
  synthesize({ config: synthConfig('kimi_k2', flags), out: dir, seed: 3, format: 'fp8' });
  await rejects(() => loadModel(dir, ops), (e: unknown) => e instanceof CheckpointError && /is F8_E4M3, which MLX cannot load; weights must be F32, F16 or BF16/.test(e.message) && /mlxk quantize SRC DST/.test(e.hint ?? ''));
});

test('unknown model_type names the supported ones', async () => {
  const dir = llamaVariant('gpt2', (c) => (c.model_type = 'gpt2'));
  await rejects(() => loadModel(dir, ops), (e: unknown) => e instanceof MlxkError && /model_type "gpt2" is not supported \(supported: deepseek_v3, kimi_k2, kimi_k25, llama, mistral, qwen3, qwen3_moe\)/.test(e.message));
});

test('a missing tensor is named with where it was looked for', async () => {
  const dir = llamaVariant('missing', () => {}, 'model.layers.1.mlp.up_proj.weight');
  await rejects(() => loadModel(dir, ops), (e: unknown) => e instanceof CheckpointError && /missing tensor "model\.layers\.1\.mlp\.up_proj\.weight"/.test(e.message));
});

test('a tensor whose shape disagrees with config.json is named with both shapes', async () => {
  const dir = llamaVariant('shape', (c) => (c.intermediate_size = 100));
  await rejects(() => loadModel(dir, ops), (e: unknown) => e instanceof CheckpointError && /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[128,64\], expected \[100,64\]/.test(e.message));
});

test('hub spelling (rope_theta + rope_scaling) and transformers 5 spelling (rope_parameters) give the same model', async () => {
  const dir = llamaVariant('hub-rope', (c) => {
    const p = c.rope_parameters as JsonObject;
    delete c.rope_parameters;
    c.rope_theta = p.rope_theta;
    const { rope_theta: _, ...scaling } = p;
    c.rope_scaling = { ...scaling, rope_type: undefined, type: p.rope_type };
  });
  const ids = [5, 17, 200, 3, 99, 42];
  assert.equal(Array.from(await logits(dir, ids)), Array.from(await logits(LLAMA, ids)));
});

test('mistral with a sliding window: the context is capped at the window (sliding attention is not implemented)', async () => {
  const capped = llamaVariant('mistral-window', (c) => Object.assign(c, { model_type: 'mistral', sliding_window: 16 }));
  assert.is((await loadModel(capped, ops)).model.info.maxContext, 16);
  const off = llamaVariant('qwen-style-window', (c) => Object.assign(c, { sliding_window: 16, use_sliding_window: false }));
  assert.is((await loadModel(off, ops)).model.info.maxContext, 256);
});

test.run();

// Quantized tiny-kimi (made here with lib/quant/convert.ts) against the float32 goldens,
// and checkpoint variants mlx-lm writes. Agreement = positions whose argmax equals the
// golden argmax, over all 425 golden positions; KL = mean KL(golden ‖ ours) in nats.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { Checkpoint, type JsonObject } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { writeSafetensors } from '../../lib/io/safetensorsWriter.js';
import { loadModel } from '../../lib/models/load.js';
import { tensorTable } from '../../lib/models/registry.js';
import { convert } from '../../lib/quant/convert.js';
import { loadPreset, uniformPreset } from '../../lib/quant/preset.js';
import { openTensor } from '../../lib/quant/source.js';
import { rejects, tmpDir, TINY_KIMI } from '../helpers.js';
import { compareLogits, Goldens, meanKl } from './goldenFiles.js';

const ops = new MlxOps();
const goldens = new Goldens(join(TINY_KIMI, 'golden.safetensors'));
const SEQS = [0, 1, 2, 3, 4];
const work = tmpDir();
const made = new Map<string, string>();

/** A built-in preset name, or 'q8-mse-g32': 8 bits, group 32, mlxk's MSE quantizer. */
async function quantized(preset: string, maxShardBytes?: number): Promise<string> {
  const key = `${preset}/${maxShardBytes ?? ''}`;
  if (!made.has(key)) {
    const dst = join(work, `${preset}${maxShardBytes ? '-sharded' : ''}`);
    const p = preset === 'q8-mse-g32' ? uniformPreset(8, 32, 'mse') : loadPreset(preset);
    await convert({ src: TINY_KIMI, dst, preset: p, threads: 1, ...(maxShardBytes ? { maxShardBytes } : {}) });
    made.set(key, dst);
  }
  return made.get(key)!;
}

async function logitsOf(dir: string): Promise<Float32Array[]> {
  const { model } = await loadModel(dir, ops);
  return SEQS.map((j) => ops.read(model.forward(goldens.ints(`seq${j}.input_ids`), model.newCache(), { allLogits: true })));
}

interface Quality {
  agreement: number;
  kl: number;
  finite: boolean;
}

async function quality(dir: string): Promise<Quality> {
  const vocab = 4128;
  let agree = 0;
  let positions = 0;
  let kl = 0;
  let finite = true;
  (await logitsOf(dir)).forEach((ours, j) => {
    const golden = goldens.floats(`seq${SEQS[j]}.logits`);
    const c = compareLogits(ours, golden, vocab);
    agree += c.top1;
    positions += c.positions;
    kl += meanKl(ours, golden, vocab) * c.positions;
    finite &&= ours.every(Number.isFinite);
  });
  return { agreement: agree / positions, kl: kl / positions, finite };
}

const measured = new Map<string, Quality>();

test('quantized tiny-kimi: top-1 agreement and KL against the float32 goldens', async () => {
  for (const preset of ['q8-mse-g32', 'q8', 'q4', 'mixed_3_6', 'q3', 'q2']) {
    const q = await quality(await quantized(preset));
    measured.set(preset, q);
    console.log(`  ${preset.padEnd(9)} top-1 agreement ${(100 * q.agreement).toFixed(2)}%, mean KL ${q.kl.toFixed(4)} nats`);
    assert.ok(q.finite, `${preset}: non-finite logits`);
  }
  const a = (p: string) => measured.get(p)!.agreement;
  // The bar: 8-bit ≥ 99%. mlxk's 8-bit quantizer (MSE search, group 32) measures 421/425.
  // MLX's own rule at group 64 (the q8 preset) measures 96.7%: this MoE model's routing turns
  // small hidden-state changes into a different expert choice, and the golden top-1/top-2
  // margins are often below the ~0.04 logit noise of 8-bit weights (the next test shows the
  // loss is the quantization's doing, not the inference's).
  assert.ok(a('q8-mse-g32') >= 0.99, `8-bit (mse, group 32) agreement ${a('q8-mse-g32')}`);
  assert.ok(a('q8') >= 0.96, `8-bit (q8 preset) agreement ${a('q8')}`);
  assert.ok(measured.get('q8')!.kl < 0.01, `8-bit KL ${measured.get('q8')!.kl}`);
  assert.ok(a('q8') > a('q4') && a('q4') > a('q3') && a('q3') > a('q2'), 'agreement falls with the bit width');
  assert.ok(a('q2') > 0.25, `2-bit agreement ${a('q2')} should stay far above chance (1/4128)`);
});

test('8-bit: the quantized forward equals the float forward over the same weights dequantized by lib/quant', async () => {
  const src = await quantized('q8');
  const ck = Checkpoint.open(src);
  const tensors = tensorTable(ck.config).entries.map((e) => {
    const values = openTensor(ck, e.name, e.shape).readRows(0, e.shape.slice(0, -1).reduce((a, b) => a * b, 1));
    return { name: e.name, dtype: 'F32' as const, shape: e.shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  });
  const cfg: JsonObject = { ...ck.config, torch_dtype: 'float32' };
  ck.close();
  delete cfg.quantization;
  delete cfg.quantization_config;
  const dst = join(work, 'q8-dequantized');
  mkdirSync(dst);
  writeSafetensors(join(dst, 'model.safetensors'), tensors);
  writeFileSync(join(dst, 'config.json'), JSON.stringify(cfg));
  const a = await logitsOf(src);
  const b = await logitsOf(dst);
  a.forEach((l, i) => {
    const c = compareLogits(l, b[i]!, 4128);
    assert.ok(c.rel < 1e-5, `seq${SEQS[i]}: quantized vs dequantized-float forward differ by ${c.maxAbs}`);
  });
});

/** A copy of checkpoint `src` with its config.json edited. */
function withConfig(src: string, name: string, edit: (cfg: JsonObject) => void): string {
  const dst = join(work, name);
  mkdirSync(dst);
  for (const f of readdirSync(src)) if (f !== 'config.json') copyFileSync(join(src, f), join(dst, f));
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as JsonObject;
  edit(cfg);
  writeFileSync(join(dst, 'config.json'), JSON.stringify(cfg));
  return dst;
}

test('mlx-lm-style configs load to the same logits: group_size null, mode missing, only quantization_config, per-module dicts', async () => {
  const src = await quantized('mixed_3_6');
  const base = await logitsOf(src);
  const variants: [string, (c: JsonObject) => void][] = [
    ['null-group-size', (c) => {
      for (const q of [c.quantization, c.quantization_config] as JsonObject[]) {
        q.group_size = null;
        for (const v of Object.values(q)) if (v && typeof v === 'object') delete (v as JsonObject).mode;
        delete q.mode;
      }
    }],
    ['quantization-config-only', (c) => delete c.quantization],
    ['no-quantization-keys', (c) => {
      delete c.quantization;
      delete c.quantization_config;
    }],
  ];
  for (const [name, edit] of variants) {
    const logits = await logitsOf(withConfig(src, name, edit));
    logits.forEach((l, i) => assert.equal(Array.from(l), Array.from(base[i]!), `${name} seq${SEQS[i]}`));
  }
  const sharded = await logitsOf(await quantized('mixed_3_6', 3_000_000));
  sharded.forEach((l, i) => assert.equal(Array.from(l), Array.from(base[i]!), `sharded seq${SEQS[i]}`));
});

test('quantization settings that disagree with the tensors are refused, naming the module', async () => {
  const src = await quantized('q4');
  const bits = withConfig(src, 'wrong-bits', (c) => ((c.quantization as JsonObject).bits = 8));
  await rejects(() => loadModel(bits, ops), (e: unknown) => e instanceof MlxkError && /"model\.embed_tokens": config\.json quantization says 8 bits, but the packed shape \[4128,32\] holds 4-bit values/.test((e as Error).message));
  const mode = withConfig(src, 'mxfp4-mode', (c) => ((c.quantization as JsonObject).mode = 'mxfp4'));
  await rejects(() => loadModel(mode, ops), /quantization mode "mxfp4" is not supported \(only affine\)/);
  const group = withConfig(src, 'wrong-group', (c) => ((c.quantization as JsonObject)['model.layers.0.mlp.down_proj'] = { bits: 4, group_size: 32 }));
  await rejects(() => loadModel(group, ops), /"model\.layers\.0\.mlp\.down_proj": config\.json quantization says group_size 32, but scales \[256,12\] give 64/);
});

test.run();

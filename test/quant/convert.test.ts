import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { dequantize } from '../../lib/quant/affine.js';
import { convert } from '../../lib/quant/convert.js';
import { checkFreeSpace } from '../../lib/quant/destination.js';
import { STATE_FILE } from '../../lib/quant/outputFiles.js';
import { DONE_FILE } from '../../lib/quant/finished.js';
import { loadPreset, uniformPreset } from '../../lib/quant/preset.js';
import { openTensor, readFloatTensor } from '../../lib/quant/source.js';
import { tensorTable } from '../../lib/models/registry.js';
import { planQuantization } from '../../lib/quant/plan.js';
import { flatF32, flatU32, mx, rejects, tmpDir, TINY_KIMI } from '../helpers.js';

function dirHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(dir).sort()) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

test('2/4/8-bit outputs are bit-identical to MLX quantize of the same (bf16) tensors', async () => {
  const m = mx();
  const src = m.load(join(TINY_KIMI, 'model.safetensors')) as unknown as Record<string, ReturnType<typeof m.array>>;
  for (const bits of [2, 4, 8]) {
    const dst = join(tmpDir(), `q${bits}`);
    await convert({ src: TINY_KIMI, dst, preset: uniformPreset(bits, 64), threads: 2 });
    const out = Checkpoint.open(dst);
    // (output module, source tensor(s), in-dim): MLX 0.0.7 needs K ≥ 512/256/128 for 2/4/8 bits.
    const cases: [string, string[], number][] = [
      ['model.layers.0.mlp.down_proj', ['model.layers.0.mlp.down_proj.weight'], 768],
      ['model.layers.1.mlp.switch_mlp.gate_proj', Array.from({ length: 16 }, (_, e) => `model.layers.1.mlp.experts.${e}.gate_proj.weight`), 256],
      ['lm_head', ['lm_head.weight'], 256],
      ['model.layers.2.self_attn.q_a_proj', ['model.layers.2.self_attn.q_a_proj.weight'], 256],
    ];
    let compared = 0;
    for (const [mod, names, k] of cases) {
      if (k < ({ 2: 512, 4: 256, 8: 128 } as Record<number, number>)[bits]!) continue;
      const w = names.length === 1 ? src[names[0]!]! : m.concatenate(names.map((n) => src[n]!), 0);
      const [wq, s, b] = m.quantize(w, 64, bits);
      assert.equal(Array.from(new Uint32Array(out.read(`${mod}.weight`).buffer.slice(0))), Array.from(flatU32(wq.tolist())), `${bits}-bit ${mod} words`);
      assert.equal(Array.from(readFloatTensor(out, `${mod}.scales`)), Array.from(flatF32(s.astype(m.float32).tolist())), `${bits}-bit ${mod} scales`);
      assert.equal(Array.from(readFloatTensor(out, `${mod}.biases`)), Array.from(flatF32(b.astype(m.float32).tolist())), `${bits}-bit ${mod} biases`);
      compared++;
    }
    assert.ok(compared >= 1);
    out.close();
  }
});

test('mixed_3_6 on tiny-kimi: mlx-lm file layout, and every quantized tensor dequantizes within its bit width error of the source', async () => {
  const before = dirHash(TINY_KIMI);
  const dst = join(tmpDir(), 'mixed');
  const report = await convert({ src: TINY_KIMI, dst, preset: loadPreset('mixed_3_6'), threads: 2 });
  assert.is(dirHash(TINY_KIMI), before, 'the source directory is unchanged');
  assert.equal(readdirSync(dst).sort(), [DONE_FILE, 'README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'model.safetensors.index.json', 'tiktoken.model', 'tokenizer_config.json']);
  const cfg = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  assert.equal(cfg.quantization, cfg.quantization_config);
  assert.equal({ bits: cfg.quantization.bits, group_size: cfg.quantization.group_size, mode: cfg.quantization.mode }, { bits: 3, group_size: 64, mode: 'affine' });
  assert.equal(cfg.quantization['lm_head'], { group_size: 64, bits: 6, mode: 'affine' });
  assert.equal(Object.keys(cfg), [...Object.keys(cfg)].sort(), 'keys sorted as mlx-lm writes them');
  const index = JSON.parse(readFileSync(join(dst, 'model.safetensors.index.json'), 'utf8'));
  const out = Checkpoint.open(dst);
  assert.is(index.metadata.total_size, out.dataBytes);
  assert.is(index.metadata.total_parameters, report.params);
  assert.equal(Object.keys(index.weight_map), Object.keys(index.weight_map).sort());
  assert.is(out.file('lm_head.weight').metadata.format, 'mlx');
  assert.not.ok(out.has('model.layers.0.self_attn.kv_b_proj.weight'), 'kv_b_proj is split into embed_q/unembed_out');
  assert.ok(out.has('model.layers.1.mlp.switch_mlp.down_proj.scales'), 'experts stacked into switch_mlp');
  assert.is(out.info('model.layers.1.mlp.gate.e_score_correction_bias').dtype, 'F32');
  assert.is(out.info('model.layers.1.mlp.gate.weight').dtype, 'BF16', 'router gate never quantized');
  // Independent check of every quantized tensor against the bf16 source values.
  const srcCk = Checkpoint.open(TINY_KIMI);
  const table = tensorTable(srcCk.config);
  const plan = planQuantization(table, loadPreset('mixed_3_6'));
  for (const mp of plan.modules.filter((x) => x.quant)) {
    const e = mp.entries[0]!;
    const cols = e.shape[e.shape.length - 1]!;
    const rows = e.shape.reduce((a, b) => a * b, 1) / cols;
    const words = new Uint32Array(out.read(e.name).buffer.slice(0));
    const deq = dequantize(words, readFloatTensor(out, `${mp.module}.scales`), readFloatTensor(out, `${mp.module}.biases`), rows, cols, mp.quant!.bits, mp.quant!.groupSize);
    const names = e.source.kind === 'stack' ? e.source.names : e.source.kind === 'tensor' ? [e.source.name] : [];
    if (names.length === 0) continue;
    const ref = new Float32Array(rows * cols);
    const per = rows / names.length;
    names.forEach((n, i) => ref.set(openTensor(srcCk, n, names.length === 1 ? e.shape : e.shape.slice(1)).readRows(0, per), i * per * cols));
    let err = 0;
    let sq = 0;
    for (let i = 0; i < ref.length; i++) {
      err += (deq[i]! - ref[i]!) ** 2;
      sq += ref[i]! ** 2;
    }
    const rel = Math.sqrt(err / sq);
    // Uniform-grid error ≈ step/√12 relative to the weights' RMS; 2.5× that at 3 bits and 6 bits.
    const bound = mp.quant!.bits === 3 ? 0.25 : 0.035;
    assert.ok(rel < bound, `${mp.module}: relative RMS ${rel.toFixed(4)} at ${mp.quant!.bits} bits`);
    const reported = report.tensors.find((t) => t.name === e.name)!.relRmsError!;
    assert.ok(Math.abs(reported - rel) < 1e-3, `${mp.module}: reported error ${reported} vs measured ${rel}`);
  }
  srcCk.close();
  out.close();
});

test('plan totals equal the tensor bytes quantize writes, and the files within 0.5% (headers)', async () => {
  for (const preset of ['mixed_2_6', 'q8']) {
    const dst = join(tmpDir(), preset);
    const ck = Checkpoint.open(TINY_KIMI);
    const plan = planQuantization(tensorTable(ck.config), loadPreset(preset));
    ck.close();
    await convert({ src: TINY_KIMI, dst, preset: loadPreset(preset), threads: 1 });
    const out = Checkpoint.open(dst);
    assert.is(out.dataBytes, plan.bytes, `${preset}: tensor data`);
    out.close();
    const files = readdirSync(dst).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + readFileSync(join(dst, f)).length, 0);
    assert.ok((files - plan.bytes) / plan.bytes < 0.005, `${preset}: planned ${plan.bytes}, files ${files}`);
  }
});

test('a crash mid-way resumes after the last finished shard and gives the same bytes as an uninterrupted run', async () => {
  const fresh = join(tmpDir(), 'fresh');
  await convert({ src: TINY_KIMI, dst: fresh, preset: uniformPreset(4, 64), maxShardBytes: 1_000_000, threads: 1 });
  const dst = join(tmpDir(), 'crash');
  let calls = 0;
  await rejects(() => convert({
    src: TINY_KIMI, dst, preset: uniformPreset(4, 64), maxShardBytes: 1_000_000, threads: 1,
    onProgress: (p) => {
      if (++calls > 3 && p.modulesDone > 20) throw new Error('simulated crash');
    },
  }), /simulated crash/);
  assert.ok(existsSync(join(dst, STATE_FILE)), 'unfinished conversion is marked');
  assert.not.ok(existsSync(join(dst, 'config.json')), 'nothing half-written looks complete');
  assert.ok(readdirSync(dst).every((f) => !f.endsWith('.partial')), 'no partial shard left behind');
  const finished = readdirSync(dst).filter((f) => f.endsWith('.safetensors'));
  assert.ok(finished.length >= 1, 'some shards were finished before the crash');
  const report = await convert({ src: TINY_KIMI, dst, preset: uniformPreset(4, 64), maxShardBytes: 1_000_000, threads: 1 });
  assert.is(report.resumedShards, finished.length);
  assert.not.ok(existsSync(join(dst, STATE_FILE)));
  assert.is(dirHash(dst).length, 64);
  for (const f of readdirSync(fresh).filter((x) => x.endsWith('.safetensors') || x.endsWith('.json'))) {
    if (f === 'README.md' || f === DONE_FILE) continue;
    const a = readFileSync(join(fresh, f));
    const b = readFileSync(join(dst, f));
    assert.ok(a.equals(b) || f === 'config.json', `${f} differs after resume`);
  }
});

test('refuses a non-empty destination, a different unfinished conversion and the source itself', async () => {
  const dst = tmpDir();
  writeFileSync(join(dst, 'notes.txt'), 'mine');
  await rejects(() => convert({ src: TINY_KIMI, dst, preset: uniformPreset(4, 64) }), (e: unknown) => e instanceof MlxkError && /is not empty/.test((e as Error).message));
  const other = join(tmpDir(), 'x');
  mkdirSync(other);
  writeFileSync(join(other, STATE_FILE), JSON.stringify({ planHash: 'something-else' }));
  await rejects(() => convert({ src: TINY_KIMI, dst: other, preset: uniformPreset(4, 64) }), /different settings/);
  await rejects(() => convert({ src: TINY_KIMI, dst: TINY_KIMI, preset: uniformPreset(4, 64), force: true }), /never writes into the source/);
  const r = await convert({ src: TINY_KIMI, dst, preset: uniformPreset(8, 64), force: true, threads: 1 });
  assert.is(r.shards.length, 1);
  assert.ok(existsSync(join(dst, 'notes.txt')), '--force keeps files that are not model files');
});

test('not enough free disk is refused up front with the sizes involved', () => {
  const dir = tmpDir();
  assert.throws(() => checkFreeSpace(dir, 1e15), (e: unknown) => e instanceof MlxkError && /needs 1000000\.00 GB free for the remaining shards, the disk has [\d.]+ GB/.test((e as Error).message));
  checkFreeSpace(dir, 1000);
});

test.run();

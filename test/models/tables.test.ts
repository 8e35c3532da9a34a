import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { synthConfig } from '../../lib/cli/synth.js';
import { Checkpoint, readJson } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { knownConfigPath } from '../../lib/models/known.js';
import { SUPPORTED_MODEL_TYPES, tensorTable } from '../../lib/models/registry.js';
import { synthesize } from '../../lib/models/synth.js';
import { params } from '../../lib/models/table.js';
import { convert } from '../../lib/quant/convert.js';
import { uniformPreset } from '../../lib/quant/preset.js';
import { checkSourceCoverage } from '../../lib/quant/sourceCoverage.js';
import { REPO, rejects, tmpDir, TINY_KIMI } from '../helpers.js';

const flags = { format: 'float', seed: '1', std: '0.02', shardSize: '5GiB' };

test('tiny-kimi: the table covers every tensor of the real checkpoint, with golden.json parameter count', () => {
  const ck = Checkpoint.open(TINY_KIMI);
  const table = tensorTable(ck.config);
  checkSourceCoverage(ck, table);
  const golden = readJson(join(TINY_KIMI, 'golden.json')).weights as { num_params: number };
  const buffers = table.entries.filter((e) => e.name.endsWith('e_score_correction_bias')).reduce((a, e) => a + params(e), 0);
  assert.is(table.entries.reduce((a, e) => a + params(e), 0) - buffers, golden.num_params, 'transformers counts the correction bias as a buffer, not a parameter');
  ck.close();
});

test('transformers-written fixtures (llama, qwen3, qwen3_moe, deepseek_v3 ×2) are covered exactly by their tables', () => {
  for (const m of ['llama', 'qwen3', 'qwen3_moe', 'deepseek_v3', 'deepseek_v3_noqlora']) {
    const ck = Checkpoint.open(join(REPO, 'test', 'fixtures', 'models', m));
    checkSourceCoverage(ck, tensorTable(ck.config));
    ck.close();
  }
});

test('Qwen3-235B-A22B and DeepSeek-V3 totals match their published sizes', () => {
  const qwen = tensorTable(readJson(knownConfigPath('qwen3-235b-a22b')!));
  const qp = qwen.entries.reduce((a, e) => a + params(e), 0);
  assert.ok(Math.abs(qp - 235.09e9) < 0.01e9, `Qwen3-235B: ${qp}`);
  const ds = tensorTable(readJson(knownConfigPath('deepseek-v3')!));
  const dp = ds.entries.reduce((a, e) => a + params(e), 0);
  // 671B main model; the 14B MTP layer (num_nextn_predict_layers) is dropped, as mlx-lm does.
  assert.ok(Math.abs(dp - 671.03e9) < 0.01e9, `DeepSeek-V3: ${dp}`);
  assert.ok(ds.dropsSource('model.layers.61.eh_proj.weight'));
  assert.not.ok(ds.dropsSource('model.layers.60.mlp.gate.weight'));
});

for (const arch of SUPPORTED_MODEL_TYPES) {
  test(`${arch}: synth → quantize → verified output, for every source format the architecture can carry`, async () => {
    const formats = arch.startsWith('kimi') || arch === 'deepseek_v3' ? ['float', 'fp8', 'int4'] : ['float', 'fp8'];
    for (const format of formats) {
      const src = tmpDir();
      const cfg = synthConfig(arch, { ...flags, format, layers: '2' });
      synthesize({ config: cfg, out: src, format: format as 'float', seed: 3 });
      const ck = Checkpoint.open(src);
      checkSourceCoverage(ck, tensorTable(ck.config));
      ck.close();
      const r = await convert({ src, dst: join(tmpDir(), 'out'), preset: uniformPreset(4, 32), threads: 1 });
      assert.ok(r.params > 0 && r.tensors.length > 0, `${arch}/${format}`);
    }
  });
}

test('config and checkpoint disagreements are refused before anything is written', async () => {
  const src = tmpDir();
  const cfg = synthConfig('llama', { ...flags, layers: '2' });
  synthesize({ config: cfg, out: src, seed: 1 });
  // config says 3 layers: layer 2 tensors are missing
  const wrong = { ...cfg, num_hidden_layers: 3 };
  writeFileSync(join(src, 'config.json'), JSON.stringify(wrong));
  const dst = join(tmpDir(), 'o');
  await rejects(() => convert({ src, dst, preset: uniformPreset(4, 64) }), (e) => e instanceof MlxkError && /missing tensor "model\.layers\.2\./.test((e as Error).message));
  assert.not.ok(existsSync(dst), 'nothing was created');
  // and the reverse: a tensor the architecture does not have
  writeFileSync(join(src, 'config.json'), JSON.stringify({ ...cfg, tie_word_embeddings: true }));
  await rejects(() => convert({ src, dst, preset: uniformPreset(4, 64) }), /1 tensor\(s\) are not part of the llama layout mlxk knows \(e\.g\. "lm_head\.weight"\)/);
});

test('a shape mismatch between config.json and the weights names the tensor and both shapes', async () => {
  const src = tmpDir();
  const cfg = synthConfig('llama', { ...flags, layers: '1' });
  synthesize({ config: cfg, out: src, seed: 1 });
  writeFileSync(join(src, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 512 }));
  await rejects(() => convert({ src, dst: join(tmpDir(), 'o'), preset: uniformPreset(4, 64) }), /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[768,256\], expected \[512,256\]/);
});

test('unknown architectures and missing config fields are named', () => {
  assert.throws(() => tensorTable({ model_type: 'gpt_oss' }), /model_type "gpt_oss" is not supported \(supported: .*deepseek_v3/);
  assert.throws(() => tensorTable({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4 }), /config.json: missing "num_hidden_layers" \(expected a positive integer\)/);
  assert.throws(() => tensorTable({ model_type: 'llama', hidden_size: '64' }), /"hidden_size" is "64"; expected an integer in 1\.\.65536/);
});

test.run();

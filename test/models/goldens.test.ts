// Every architecture against transformers' float32 goldens: tiny-kimi (a trained
// Kimi-K2-architecture model, bf16) and the random-weight fixtures (llama with llama3
// rope, qwen3, qwen3_moe, deepseek_v3 with n_group routing and negative biases,
// deepseek_v3 without q LoRA and with rms_norm_eps 1e-5). Logits: relative error =
// max |ours − golden| / max |golden| over each sequence ≤ 1e-3; greedy continuations
// token-identical through the engine (cached decode, which the goldens did not use).
// Both backends run every check. The golden checkpoints are float (bf16/f32), which the
// native backend computes in exact float32 (its activation quantization applies only to
// quantized weights), so its default options meet the same bounds.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import type { Ops } from '../../lib/backend/ops.js';
import { generate } from '../../lib/engine/generate.js';
import { Sequence } from '../../lib/engine/sequence.js';
import { readJson } from '../../lib/io/checkpoint.js';
import { deepseekSoftmaxMscale, ropeConfig, ropeFrequencies } from '../../lib/models/rope.js';
import { loadModel } from '../../lib/models/load.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { compareLogits, Goldens } from './goldenFiles.js';
import { recording } from './recordingOps.js';

const BACKENDS: [string, new () => Ops][] = [['mlx', MlxOps], ['native', NativeOps]];

const FIXTURES = join(REPO, 'test', 'fixtures', 'models');
const MODELS: [string, string, number][] = [
  ['tiny-kimi', TINY_KIMI, 5],
  ...['llama', 'qwen3', 'qwen3_moe', 'deepseek_v3', 'deepseek_v3_noqlora'].map((m): [string, string, number] => [m, join(FIXTURES, m), 3]),
];

for (const [backend, Backend] of BACKENDS) {
  for (const [name, dir, sequences] of MODELS) {
    test(`${backend} ${name}: logits of every golden sequence within relative error 1e-3`, async () => {
      const g = new Goldens(join(dir, 'golden.safetensors'));
      const { model } = await loadModel(dir, new Backend());
      const vocab = model.info.vocabSize;
      for (let j = 0; j < sequences; j++) {
        const ids = g.ints(`seq${j}.input_ids`);
        const ours = model.ops.read(model.forward(ids, model.newCache(), { allLogits: true }));
        const c = compareLogits(ours, g.floats(`seq${j}.logits`), vocab);
        console.log(`  ${backend} ${name} seq${j} (${ids.length} tokens): max |Δ| ${c.maxAbs.toExponential(2)}, relative ${c.rel.toExponential(2)}, top-1 ${c.top1}/${c.positions}`);
        assert.ok(c.rel <= 1e-3, `${name} seq${j}: relative error ${c.rel}`);
        assert.is(c.top1, c.positions, `${name} seq${j}: argmax differs somewhere`);
      }
    });

    test(`${backend} ${name}: greedy continuations are token-identical (cached decode)`, async () => {
      const g = new Goldens(join(dir, 'golden.safetensors'));
      const { model } = await loadModel(dir, new Backend());
      for (let j = 0; g.has(`gen${j}.prompt_ids`); j++) {
        const want = g.ints(`gen${j}.new_ids`);
        const r = await generate(new Sequence(model), g.ints(`gen${j}.prompt_ids`), { temperature: 0, maxTokens: want.length });
        assert.equal(r.ids, want, `${name} gen${j}`);
      }
    });
  }

  for (const name of ['qwen3_moe', 'deepseek_v3']) {
    test(`${backend} ${name}: the experts and weights chosen for every token of seq2 are transformers'`, async () => {
      const dir = join(FIXTURES, name);
      const g = new Goldens(join(dir, 'golden.safetensors'));
      const ops = new (recording(Backend))();
      const { model } = await loadModel(dir, ops);
      model.ops.read(model.forward(g.ints('seq2.input_ids'), model.newCache()));
      let layer = 0;
      for (const r of ops.routes) {
        while (!g.has(`seq2.moe${layer}.topk_ids`)) layer++;
        const ids = g.ints(`seq2.moe${layer}.topk_ids`);
        const weights = g.floats(`seq2.moe${layer}.topk_weights`);
        for (let t = 0; t < r.tokens; t++) {
          // transformers' rows are sorted by expert id
          const slots = Array.from({ length: r.k }, (_, j) => j).sort((a, b) => r.indices[t * r.k + a]! - r.indices[t * r.k + b]!);
          assert.equal(slots.map((j) => r.indices[t * r.k + j]), ids.slice(t * r.k, (t + 1) * r.k), `layer ${layer} token ${t} experts`);
          slots.forEach((j, i) => assert.ok(Math.abs(r.weights[t * r.k + j]! - weights[t * r.k + i]!) < 1e-5, `layer ${layer} token ${t} weight ${i}`));
        }
        layer++;
      }
      assert.is(ops.routes.length, 2, 'one route per MoE layer (layers 1 and 2)');
    });
  }
}

test('rope frequencies, cos/sin scaling and DeepSeek softmax scale equal the numbers transformers built', () => {
  for (const [name, dir] of MODELS) {
    const cfg = readJson(join(dir, 'config.json'));
    const golden = readJson(join(dir, 'golden.json')).rope as Record<string, unknown>;
    const deepseek = cfg.qk_rope_head_dim !== undefined;
    const dims = deepseek ? (cfg.qk_rope_head_dim as number) : ((cfg.head_dim as number | undefined) ?? (cfg.hidden_size as number) / (cfg.num_attention_heads as number));
    const rc = ropeConfig(cfg);
    const f = ropeFrequencies(rc, dims);
    const inv = golden.inv_freq as number[];
    assert.is(f.invFreq.length, inv.length, name);
    f.invFreq.forEach((v, i) => assert.ok(Math.abs(v - inv[i]!) <= 2 ** -23 * Math.abs(inv[i]!), `${name} inv_freq[${i}] ${v} vs ${inv[i]}`));
    const scaling = (golden.attention_scaling ?? golden.rotary_attention_scaling) as number;
    assert.ok(Math.abs(f.attentionScaling - scaling) < 1e-12, `${name} attention scaling ${f.attentionScaling} vs ${scaling}`);
    const softmax = (golden.softmax_scale ?? golden.attention_softmax_scale) as number;
    const ours = deepseek ? ((cfg.qk_nope_head_dim as number) + dims) ** -0.5 * deepseekSoftmaxMscale(rc) : dims ** -0.5;
    assert.ok(Math.abs(ours - softmax) < 1e-12, `${name} softmax scale ${ours} vs ${softmax}`);
  }
});

test.run();

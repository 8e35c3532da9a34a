// Weights streamed one decoder layer at a time (what `mlxk imatrix` runs on) give the same
// logits as the whole model loaded at once, hold one group at a time, load each group once
// per forward pass in the model's own order, free each group they let go of and hand its raw
// tensors back for their pages to be dropped. The `hidden` forward option returns exactly what the head multiplies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createOps } from '../../lib/backend/index.js';
import type { Ops, Tensor, Weight } from '../../lib/backend/ops.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { buildModel } from '../../lib/models/load.js';
import { loadWeights } from '../../lib/models/loadWeights.js';
import { tensorTable } from '../../lib/models/registry.js';
import { StreamedWeights } from '../../lib/models/streamedWeights.js';
import { TINY_KIMI } from '../helpers.js';

const PROMPTS = [[1, 5, 9, 200, 31, 7, 7, 64], [3, 1000, 17, 2]];

test('streamed weights: the same logits as the loaded model, one group held at a time, each loaded once in forward order, pages handed back', async () => {
  const base = createOps('native');
  const dropped: number[] = [];
  const ops = new Proxy(base, {
    get: (t, prop, recv) => (prop === 'dropPages' ? (raw: Tensor[]) => (dropped.push(raw.length), t.dropPages!(raw)) : (Reflect.get(t, prop, recv) as unknown)),
  }) as Ops;
  const ckpt = Checkpoint.open(TINY_KIMI);
  const table = tensorTable(ckpt.config, 'config.json');
  const loaded = buildModel(base, await loadWeights(ckpt, table, base), ckpt.config, table.modelType, 'config.json');
  const order: string[] = [];
  const held: number[] = [];
  let firstQ: Weight | undefined;
  const weights: StreamedWeights = new StreamedWeights(ckpt, table, ops, {
    onLoad: (g) => {
      order.push(g);
      held.push(weights.all().length);
      if (g === 'layer 0') firstQ = weights.get('model.layers.0.self_attn.q_a_proj.weight');
    },
  });
  const streamed = buildModel(ops, weights, ckpt.config, table.modelType, 'config.json');
  const run = (m: typeof loaded) => base.read(m.forwardBatch(PROMPTS.map((ids) => ({ ids, cache: m.newCache() })), { allLogits: true }));
  const want = run(loaded);
  const got = run(streamed);
  assert.equal(Array.from(got), Array.from(want));

  const layers = (ckpt.config.num_hidden_layers as number);
  assert.equal(order, ['model.embed_tokens.weight', ...Array.from({ length: layers }, (_, l) => `layer ${l}`), 'model.norm.weight', 'lm_head.weight']);
  assert.is(weights.loads, order.length);
  // each release but the last (the head is still held) dropped the pages of what it read
  assert.is(dropped.length, order.length - 1);
  assert.ok(dropped.every((n) => n > 0));
  // a let-go layer's weights are freed, not merely forgotten: using one is an error
  assert.throws(() => base.linear(base.constant(new Float32Array(base.weightShape(firstQ!)[1]!), [1, base.weightShape(firstQ!)[1]!]), firstQ!), /released/);
  // right after each load, what is held is that group alone
  const sizeOf = (g: string) => table.entries.filter((e) => (e.layer === null ? e.name : `layer ${e.layer}`) === g).length;
  assert.equal(held, order.map(sizeOf));
  weights.release();
  assert.is(weights.all().length, 0);
  assert.is(dropped.length, order.length);
  ckpt.close();
});

test('forward { hidden: true } returns the final normed hidden states: through lm_head they are the logits', async () => {
  const ops = createOps('native');
  const ckpt = Checkpoint.open(TINY_KIMI);
  const table = tensorTable(ckpt.config, 'config.json');
  const weights = await loadWeights(ckpt, table, ops);
  ckpt.close();
  const model = buildModel(ops, weights, ckpt.config, table.modelType, 'config.json');
  const items = () => PROMPTS.map((ids) => ({ ids, cache: model.newCache() }));
  const h = model.forwardBatch(items(), { hidden: true });
  assert.equal(ops.shape(h), [PROMPTS.flat().length, ckpt.config.hidden_size as number]);
  const logits = ops.read(model.forwardBatch(items(), { allLogits: true }));
  assert.equal(Array.from(ops.read(ops.linear(h, weights.get('lm_head.weight')))), Array.from(logits));
});

test.run();

// The cached paths against the uncached one: decoding token by token over the KV
// cache (for DeepSeek/Kimi: absorbed MLA over the latent cache) and prefilling in
// chunks must give the logits of one full forward pass (expanded MLA, no cache).
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import type { CausalLM } from '../../lib/models/model.js';
import { loadModel } from '../../lib/models/load.js';
import { Sequence } from '../../lib/engine/sequence.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { compareLogits, Goldens } from './goldenFiles.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'models');
const ops = new MlxOps();

function fullPass(model: CausalLM, ids: number[]): Float32Array {
  return ops.read(model.forward(ids, model.newCache(), { allLogits: true }));
}

async function stepwise(model: CausalLM, ids: number[], chunk: number): Promise<Float32Array> {
  const cache = model.newCache();
  const parts: Float32Array[] = [];
  for (let s = 0; s < ids.length; s += chunk) {
    parts.push(ops.read(model.forward(ids.slice(s, s + chunk), cache, { allLogits: true })));
    await ops.reclaim();
  }
  assert.is(cache.length, ids.length);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const CASES: [string, string, string][] = [
  ['tiny-kimi', TINY_KIMI, 'seq3'],
  ['deepseek_v3', join(FIXTURES, 'deepseek_v3'), 'seq2'],
  ['deepseek_v3_noqlora', join(FIXTURES, 'deepseek_v3_noqlora'), 'seq2'],
  ['llama', join(FIXTURES, 'llama'), 'seq2'],
  ['qwen3', join(FIXTURES, 'qwen3'), 'seq2'],
  ['qwen3_moe', join(FIXTURES, 'qwen3_moe'), 'seq2'],
];

for (const [name, dir, seq] of CASES) {
  test(`${name}: one-token decode steps and chunked prefill reproduce the full pass`, async () => {
    const ids = new Goldens(join(dir, 'golden.safetensors')).ints(`${seq}.input_ids`);
    const { model } = await loadModel(dir, ops);
    const full = fullPass(model, ids);
    const vocab = model.info.vocabSize;
    for (const chunk of [1, 7]) {
      const c = compareLogits(await stepwise(model, ids, chunk), full, vocab);
      console.log(`  ${name}: ${ids.length} tokens in chunks of ${chunk}: max |Δ| ${c.maxAbs.toExponential(2)} (relative ${c.rel.toExponential(2)}), top-1 ${c.top1}/${c.positions}`);
      assert.ok(c.rel < 1e-5, `${name} chunk ${chunk}: relative difference ${c.rel}`);
      assert.is(c.top1, c.positions);
    }
  });
}

test('Sequence: forks share the prefix, trim goes back, both continue exactly as a fresh run', async () => {
  const { model } = await loadModel(TINY_KIMI, ops);
  const prompt = [4096, 769, 629, 280, 324, 3072];
  const a = new Sequence(model);
  const first = await a.prefill(prompt, 4);
  const b = a.fork();
  const stepA = await a.decode(10);
  const stepB = await b.decode(10);
  assert.equal(Array.from(stepA), Array.from(stepB), 'a fork decodes like its parent');
  await a.decode(2404);
  a.trim(prompt.length);
  assert.is(a.length, prompt.length);
  assert.is(a.cache.length, prompt.length);
  const again = await a.decode(10);
  const fresh = new Sequence(model);
  const vocab = model.info.vocabSize;
  assert.ok(compareLogits(await fresh.prefill(prompt), first, vocab).rel < 1e-5, 'chunked prefill (4) gives the unchunked logits');
  assert.ok(compareLogits(again, await fresh.decode(10), vocab).rel < 1e-5, 'after trim the sequence continues like a fresh one');
  assert.is(b.length, prompt.length + 1, 'the fork is unaffected by the parent trimming');
});

test.run();

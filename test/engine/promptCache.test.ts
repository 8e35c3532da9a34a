// The prompt cache on real models with both cache kinds (tiny-kimi: MLA latent cache; llama and
// qwen3 fixtures: standard K/V): a prompt that starts from a cached prefix must end with the
// logits transformers computed for the whole prompt without any cache (golden.safetensors), and
// the same as our own cold prefill; entries are byte-capped and evicted least recently used first.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { PromptCache } from '../../lib/engine/promptCache.js';
import { Sequence } from '../../lib/engine/sequence.js';
import { loadModel } from '../../lib/models/load.js';
import type { CausalLM } from '../../lib/models/model.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { compareLogits, Goldens } from '../models/goldenFiles.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'models');
const ops = new MlxOps();

const CASES: { name: string; dir: string; seq: string; bytesPerToken: (c: Record<string, number>) => number }[] = [
  // MLA: per layer the normalized latent and the roped key (kv_lora_rank + qk_rope_head_dim floats).
  { name: 'tiny-kimi (MLA latent cache)', dir: TINY_KIMI, seq: 'seq3', bytesPerToken: (c) => c.num_hidden_layers! * (c.kv_lora_rank! + c.qk_rope_head_dim!) * 4 },
  // Standard: per layer keys and values, num_key_value_heads × head_dim floats each.
  { name: 'llama (K/V cache)', dir: join(FIXTURES, 'llama'), seq: 'seq2', bytesPerToken: (c) => c.num_hidden_layers! * 2 * c.num_key_value_heads! * (c.hidden_size! / c.num_attention_heads!) * 4 },
  { name: 'qwen3 (K/V cache)', dir: join(FIXTURES, 'qwen3'), seq: 'seq2', bytesPerToken: (c) => c.num_hidden_layers! * 2 * c.num_key_value_heads! * c.head_dim! * 4 },
];

/** The last position's logits of a golden sequence (transformers, full pass, no cache). */
function goldenLast(g: Goldens, seq: string, vocab: number): Float32Array {
  const all = g.floats(`${seq}.logits`);
  return all.slice(all.length - vocab);
}

async function runRest(seq: Sequence, prompt: number[]): Promise<Float32Array> {
  return seq.prefill(prompt.slice(seq.length), 5);
}

for (const c of CASES) {
  test(`${c.name}: a prompt continued from a cached prefix ends with transformers' logits`, async () => {
    const g = new Goldens(join(c.dir, 'golden.safetensors'));
    const ids = g.ints(`${c.seq}.input_ids`);
    const { model, config } = await loadModel(c.dir, ops);
    const vocab = model.info.vocabSize;
    const golden = goldenLast(g, c.seq, vocab);
    const cache = new PromptCache(1e9);

    // An earlier turn: part of the prompt prefilled, a few tokens "generated" one by one.
    const turn = new Sequence(model);
    await turn.prefill(ids.slice(0, 12), 4);
    for (const id of ids.slice(12, 16)) await turn.decode(id);
    assert.ok(cache.store('m', turn));
    assert.is(cache.bytes, 16 * c.bytesPerToken(config as Record<string, number>), 'bytes: tokens × the cache size per token from config.json');

    const hit = cache.lookup('m', ids)!;
    assert.is(hit.cachedTokens, 16);
    assert.is(hit.sequence.length, 16);
    const warm = await runRest(hit.sequence, ids);
    const cold = await new Sequence(model).prefill(ids);
    const vsGolden = compareLogits(warm, golden, vocab);
    assert.ok(vsGolden.rel <= 1e-3 && vsGolden.top1 === 1, `warm vs transformers: ${JSON.stringify(vsGolden)}`);
    assert.ok(compareLogits(warm, cold, vocab).rel < 1e-5, 'warm vs our cold prefill');

    // A branch that shares only a shorter prefix: the entry is trimmed on a copy, and stays whole.
    const branch = [...ids.slice(0, 7), ...ids.slice(0, 9)];
    const partial = cache.lookup('m', branch)!;
    assert.is(partial.cachedTokens, 7);
    const branchCold = await new Sequence(model).prefill(branch);
    assert.ok(compareLogits(await runRest(partial.sequence, branch), branchCold, vocab).rel < 1e-5, 'branch from a trimmed copy');
    const again = cache.lookup('m', ids)!;
    assert.is(again.cachedTokens, 16, 'the entry is intact after a trimmed copy was used');
    assert.ok(compareLogits(await runRest(again.sequence, ids), golden, vocab).rel <= 1e-3);

    // The whole prompt cached: one token is left to run, so there are logits to sample from.
    const whole = new Sequence(model);
    await whole.prefill(ids);
    cache.store('m', whole);
    const full = cache.lookup('m', ids)!;
    assert.is(full.cachedTokens, ids.length - 1);
    assert.ok(compareLogits(await runRest(full.sequence, ids), golden, vocab).rel <= 1e-3);
    assert.is(cache.keys('m').length, 1, 'the entry that is a prefix of the new one was dropped');
    assert.is(cache.lookup('other-model', ids), null, 'entries belong to their model');
  });
}

async function seqOf(model: CausalLM, ids: number[]): Promise<Sequence> {
  const s = new Sequence(model);
  await s.prefill(ids);
  return s;
}

test('byte cap: least recently used entries are evicted first; a prefix of a kept entry is not stored twice', async () => {
  const { model } = await loadModel(TINY_KIMI, ops);
  const perToken = 4 * (64 + 16) * 4;
  const cache = new PromptCache(25 * perToken);
  const a = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const b = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
  const c = [30, 31, 32, 33, 34, 35, 36, 37, 38, 39];
  assert.ok(cache.store('m', await seqOf(model, a)));
  assert.ok(cache.store('m', await seqOf(model, b)));
  assert.is(cache.bytes, 20 * perToken);
  assert.ok(cache.lookup('m', [...a, 99]), 'a is used: now b is the least recently used');
  assert.ok(cache.store('m', await seqOf(model, c)));
  assert.equal(cache.keys('m'), [c, a], 'b was evicted, c and a remain (most recent first)');
  assert.is(cache.stats.evictions, 1);
  assert.not.ok(cache.store('m', await seqOf(model, a.slice(0, 5))), 'a prefix of a kept entry adds nothing');
  assert.not.ok(cache.store('m', await seqOf(model, [...a, ...b, ...c])), 'an entry over the cap is not kept');
  assert.is(new PromptCache(0).lookup('m', a), null);
  const off = new PromptCache(0);
  assert.not.ok(off.store('m', await seqOf(model, a)), 'a cap of 0 turns the cache off');
});

test.run();

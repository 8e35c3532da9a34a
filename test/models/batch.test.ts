// Batched steps against each sequence run alone: B = 1…8 sequences of different prompt
// lengths join a running batch at different rounds (so one step mixes prompts being
// prefilled with one-token decode steps over caches of different lengths) and decode
// greedily; every sequence must produce the tokens and, within the backend's bound, the
// logits it produces on its own (float checkpoints: relative 1e-5, float32 summation order;
// the quantized one with 16-bit activations: 1e-3, see cache.test.ts for why).
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import type { Ops } from '../../lib/backend/ops.js';
import type { KvCache } from '../../lib/engine/kvCache.js';
import { Sequence } from '../../lib/engine/sequence.js';
import { loadModel } from '../../lib/models/load.js';
import type { CausalLM } from '../../lib/models/model.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { compareLogits } from './goldenFiles.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'models');
const STEPS = 4;

const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);
const prompt = (b: number, vocab: number) => Array.from({ length: 2 + 3 * b }, (_, i) => (i * 131 + b * 17 + 5) % vocab);

/** Greedy run of one sequence alone: the logits after its prompt and after each generated token. */
async function alone(model: CausalLM, ids: number[]): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const seq = new Sequence(model);
  const logits = [await seq.prefill(ids)];
  const tokens: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    tokens.push(argmax(logits[logits.length - 1]!));
    logits.push(await seq.decode(tokens[tokens.length - 1]!));
  }
  return { tokens, logits };
}

/** The same B sequences in batched steps; sequence b joins at round b % 3. */
async function together(model: CausalLM, B: number): Promise<{ tokens: number[]; logits: Float32Array[] }[]> {
  const { ops, info } = model;
  const state = Array.from({ length: B }, () => ({ cache: null as KvCache | null, tokens: [] as number[], logits: [] as Float32Array[] }));
  for (let round = 0; state.some((s) => s.logits.length <= STEPS); round++) {
    const items = state.flatMap((s, b) => {
      if (b % 3 > round || s.logits.length > STEPS) return [];
      if (s.cache === null) {
        s.cache = model.newCache();
        return [{ b, ids: prompt(b, info.vocabSize), cache: s.cache }];
      }
      const next = argmax(s.logits[s.logits.length - 1]!);
      s.tokens.push(next);
      return [{ b, ids: [next], cache: s.cache }];
    });
    const out = ops.read(model.forwardBatch(items));
    items.forEach((it, i) => state[it.b]!.logits.push(out.slice(i * info.vocabSize, (i + 1) * info.vocabSize)));
    await ops.reclaim();
  }
  return state;
}

interface Case {
  name: string;
  dir: string;
  make: () => Ops;
  rel: number;
  sizes: number[];
}

const ALL = [1, 2, 3, 4, 5, 6, 7, 8];
const CASES: Case[] = [
  { name: 'native tiny-kimi (MLA, noaux_tc MoE)', dir: TINY_KIMI, make: () => new NativeOps(), rel: 1e-5, sizes: ALL },
  { name: 'native llama (GQA)', dir: join(FIXTURES, 'llama'), make: () => new NativeOps(), rel: 1e-5, sizes: ALL },
  { name: 'native qwen3_moe (GQA, softmax MoE)', dir: join(FIXTURES, 'qwen3_moe'), make: () => new NativeOps(), rel: 1e-5, sizes: ALL },
  { name: 'native tiny-kimi-mixed_3_6 (quantized, 16-bit activations)', dir: join(REPO, 'models', 'tiny-kimi-mixed_3_6'), make: () => new NativeOps({ activationBits: 16 }), rel: 1e-3, sizes: ALL },
  { name: 'mlx tiny-kimi', dir: TINY_KIMI, make: () => new MlxOps(), rel: 1e-5, sizes: [1, 3, 8] },
  { name: 'mlx qwen3_moe', dir: join(FIXTURES, 'qwen3_moe'), make: () => new MlxOps(), rel: 1e-5, sizes: [2, 5] },
];

for (const c of CASES) {
  test(`${c.name}: batched steps give each sequence its own greedy tokens and logits (B = ${c.sizes.join(', ')})`, async () => {
    const { model } = await loadModel(c.dir, c.make());
    const vocab = model.info.vocabSize;
    const solo: { tokens: number[]; logits: Float32Array[] }[] = [];
    for (let b = 0; b < Math.max(...c.sizes); b++) solo.push(await alone(model, prompt(b, vocab)));
    let worst = 0;
    for (const B of c.sizes) {
      const batched = await together(model, B);
      batched.forEach((got, b) => {
        assert.equal(got.tokens, solo[b]!.tokens, `B ${B}, sequence ${b}: greedy tokens`);
        got.logits.forEach((l, s) => {
          const r = compareLogits(l, solo[b]!.logits[s]!, vocab);
          worst = Math.max(worst, r.rel);
          assert.ok(r.rel < c.rel, `B ${B}, sequence ${b}, step ${s}: relative difference ${r.rel}`);
        });
      });
    }
    console.log(`  ${c.name}: largest relative logit difference ${worst.toExponential(2)}`);
  });
}

test('forwardBatch refuses one cache twice and an empty sequence', async () => {
  const { model } = await loadModel(TINY_KIMI, new NativeOps());
  const cache = model.newCache();
  assert.throws(() => model.forwardBatch([{ ids: [1], cache }, { ids: [2], cache }]), /one cache twice/);
  assert.throws(() => model.forwardBatch([{ ids: [], cache }]), /no tokens/);
  assert.throws(() => model.forwardBatch([]), /at least one/);
});

test.run();

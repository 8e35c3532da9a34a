// The cached paths against the uncached one: decoding token by token over the KV
// cache (for DeepSeek/Kimi: absorbed MLA over the latent cache) and prefilling in
// chunks must give the logits of one full forward pass (expanded MLA, no cache), on
// both backends. Float checkpoints: relative difference < 1e-5 (float32 summation order).
// A quantized checkpoint on the native backend: the two paths differ by ~1e-6 before any
// activation is quantized (absorbed vs expanded MLA, GEMV vs GEMM epilogues), and that can
// move an activation across a rounding boundary — a step of d/256 with 16-bit activations
// (measured ≤ 1.6e-4 relative on the logits, so 1e-3 is required), a whole int8 step d
// with the default int8 ones, which the MoE router can turn into another expert choice
// (measured 95.7–98.7% top-1 agreement on AVX-512; another kernel set sums in another order
// and flips other roundings, so ≥ 90% is required — a cache fault collapses agreement).
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import type { Ops } from '../../lib/backend/ops.js';
import type { CausalLM } from '../../lib/models/model.js';
import { loadModel } from '../../lib/models/load.js';
import { Sequence } from '../../lib/engine/sequence.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { compareLogits, Goldens } from './goldenFiles.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'models');

function fullPass(model: CausalLM, ids: number[]): Float32Array {
  return model.ops.read(model.forward(ids, model.newCache(), { allLogits: true }));
}

async function stepwise(model: CausalLM, ids: number[], chunk: number): Promise<Float32Array> {
  const ops = model.ops;
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

interface Case {
  name: string;
  dir: string;
  /** The golden sequence whose ids are run (from `goldens`, default the model's own). */
  seq: string;
  goldens?: string;
  quantized?: boolean;
}

const CASES: Case[] = [
  { name: 'tiny-kimi', dir: TINY_KIMI, seq: 'seq3' },
  ...['deepseek_v3', 'deepseek_v3_noqlora', 'llama', 'qwen3', 'qwen3_moe'].map((m) => ({ name: m, dir: join(FIXTURES, m), seq: 'seq2' })),
  { name: 'tiny-kimi-mixed_3_6 (quantized)', dir: join(REPO, 'models', 'tiny-kimi-mixed_3_6'), goldens: TINY_KIMI, seq: 'seq3', quantized: true },
];

interface Backend {
  name: string;
  make: () => Ops;
  /** Least bound on the relative difference and least top-1 agreement for a checkpoint. */
  bounds: (quantized: boolean) => { rel: number; top1: number };
  /** Only the quantized case (a variant whose float behaviour another entry already covers). */
  quantizedOnly?: boolean;
}

const exact = () => ({ rel: 1e-5, top1: 1 });
const BACKENDS: Backend[] = [
  { name: 'mlx', make: () => new MlxOps(), bounds: exact },
  { name: 'native', make: () => new NativeOps(), bounds: (q) => (q ? { rel: Infinity, top1: 0.9 } : exact()) },
  { name: 'native (16-bit activations)', make: () => new NativeOps({ activationBits: 16 }), bounds: (q) => (q ? { rel: 1e-3, top1: 1 } : exact()), quantizedOnly: true },
];

for (const backend of BACKENDS) {
  for (const c of CASES) {
    if (backend.quantizedOnly && !c.quantized) continue;
    test(`${backend.name} ${c.name}: one-token decode steps and chunked prefill reproduce the full pass`, async () => {
      const ids = new Goldens(join(c.goldens ?? c.dir, 'golden.safetensors')).ints(`${c.seq}.input_ids`);
      const { model } = await loadModel(c.dir, backend.make());
      const full = fullPass(model, ids);
      const vocab = model.info.vocabSize;
      const b = backend.bounds(c.quantized ?? false);
      for (const chunk of [1, 7]) {
        const r = compareLogits(await stepwise(model, ids, chunk), full, vocab);
        console.log(`  ${backend.name} ${c.name}: ${ids.length} tokens in chunks of ${chunk}: max |Δ| ${r.maxAbs.toExponential(2)} (relative ${r.rel.toExponential(2)}), top-1 ${r.top1}/${r.positions}`);
        assert.ok(r.rel < b.rel, `${c.name} chunk ${chunk}: relative difference ${r.rel}`);
        assert.ok(r.top1 >= b.top1 * r.positions, `${c.name} chunk ${chunk}: top-1 agreement ${r.top1}/${r.positions}`);
      }
    });
  }
  if (backend.quantizedOnly) continue;

  test(`${backend.name} Sequence: forks share the prefix, trim goes back, both continue exactly as a fresh run`, async () => {
    const { model } = await loadModel(TINY_KIMI, backend.make());
    const vocab = model.info.vocabSize;
    const close = (x: Float32Array, y: Float32Array) => compareLogits(x, y, vocab).rel < 1e-5;
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
    assert.ok(close(await fresh.prefill(prompt), first), 'chunked prefill (4) gives the unchunked logits');
    assert.ok(close(again, await fresh.decode(10)), 'after trim the sequence continues like a fresh one');
    assert.is(b.length, prompt.length + 1, 'the fork is unaffected by the parent trimming');
    // A fork that has not written yet, while its parent trims and overwrites the rows it shares.
    const c = a.fork();
    a.trim(2);
    await a.decode(77);
    await a.decode(78);
    const fromFork = await c.decode(5);
    assert.ok(close(fromFork, await fresh.decode(5)), 'the fork still sees its own prefix after the parent rewrote those rows');
  });
}

test.run();

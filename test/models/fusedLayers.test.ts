// The native backend's whole-layer steps (Ops.mlaLayers, native/src/mla_layers.cc) against
// the same model run op by op (NativeOps({fusedLayers: false})): it calls the same kernels on
// the same values in the same order, so logits must be bit-identical, step after step: prompts
// (every position's logits), B = 1…8 sequences decoding at different cache lengths (one
// crossing the cache's 256-token growth block), steps mixing new prompts with decoding
// sequences, with and without q_lora_rank, quantized or not, dense and MoE layers; and the
// cache writes it makes in place must leave forks and trimmed caches as writeRows leaves them.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NativeOps } from '../../lib/backend/native/ops.js';
import { modelOps } from '../../lib/backend/native/addon.js';
import { tapOps } from '../../lib/calib/tap.js';
import type { KvCache } from '../../lib/engine/kvCache.js';
import { loadModel } from '../../lib/models/load.js';
import type { CausalLM } from '../../lib/models/model.js';
import { convert } from '../../lib/quant/convert.js';
import { parsePreset } from '../../lib/quant/preset.js';
import { REPO, TINY_KIMI, tmpDir } from '../helpers.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'models');

const argmax = (v: Float32Array, from: number, n: number) => {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[from + i]! > v[from + best]!) best = i;
  return best;
};

/** Prompts of B sequences, prefilled one by one, then `steps` greedy batched decode steps: every step's logits. */
function decodeRun(model: CausalLM, B: number, steps: number, promptLength: (b: number) => number): Float32Array[] {
  const V = model.info.vocabSize;
  const caches: KvCache[] = [];
  const next: number[] = [];
  for (let b = 0; b < B; b++) {
    const cache = model.newCache();
    const ids = Array.from({ length: promptLength(b) }, (_, i) => (i * 37 + b * 101 + 3) % V);
    next.push(argmax(model.ops.read(model.forward(ids, cache)), 0, V));
    caches.push(cache);
  }
  const out: Float32Array[] = [];
  for (let s = 0; s < steps; s++) {
    const logits = model.ops.read(model.forwardBatch(next.map((id, b) => ({ ids: [id], cache: caches[b]! }))));
    out.push(logits);
    for (let b = 0; b < B; b++) next[b] = argmax(logits, b * V, V);
  }
  return out;
}

function assertIdentical(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.is(a.length, b.length);
  a.forEach((x, s) => {
    const y = b[s]!;
    assert.is(x.length, y.length);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) assert.unreachable(`${what}, step ${s}, logit ${i}: ${x[i]} fused vs ${y[i]} op by op`);
  });
}

const CASES = [
  { name: 'tiny-kimi (bf16, q_lora_rank, dense first layer, shared expert)', dir: TINY_KIMI, activationBits: 8 as const },
  { name: 'tiny-kimi-mixed_3_6 (quantized 3/6-bit, 16-bit activations)', dir: join(REPO, 'models', 'tiny-kimi-mixed_3_6'), activationBits: 16 as const },
  { name: 'deepseek_v3 fixture', dir: join(FIXTURES, 'deepseek_v3'), activationBits: 8 as const },
  { name: 'deepseek_v3_noqlora fixture (q_proj)', dir: join(FIXTURES, 'deepseek_v3_noqlora'), activationBits: 8 as const },
];

for (const c of CASES) {
  test(`${c.name}: whole-layer decode gives the op-by-op logits bit for bit, B = 1…8`, async () => {
    const fused = (await loadModel(c.dir, new NativeOps({ activationBits: c.activationBits }))).model;
    const plain = (await loadModel(c.dir, new NativeOps({ activationBits: c.activationBits, fusedLayers: false }))).model;
    assert.ok(fused.ops.mlaLayers && !plain.ops.mlaLayers);
    // With every layer's weights held, a step's layers go to the backend in one call (streamed
    // weights, one call per layer, are test/models/streamedWeights.test.ts's).
    const calls: number[] = [];
    const mla = fused.ops.mlaLayers.bind(fused.ops);
    fused.ops.mlaLayers = (x, layers, caches, segments) => (calls.push(layers.length), mla(x, layers, caches, segments));
    fused.forward([1, 2, 3], fused.newCache());
    assert.equal(calls, [fused.info.numLayers]);
    for (let B = 1; B <= 8; B++) {
      const len = (b: number) => 1 + ((b * 7 + B) % 13);
      assertIdentical(decodeRun(fused, B, 3, len), decodeRun(plain, B, 3, len), `B ${B}`);
    }
    // Sequence 0 starts 3 tokens short of the cache's first 256-token block and grows past it.
    const across = (b: number) => (b === 0 ? 253 : 5 + b);
    assertIdentical(decodeRun(fused, 3, 6, across), decodeRun(plain, 3, 6, across), 'across the growth block');
  });
}

// The MoE block runs the routed and shared experts' products together (native/src/moe_block.cc),
// quantizing its input once per group size: here every MLP weight has its own width and group
// size, and some stay bf16, so each product takes another input and kernel.
test('an MoE block whose weights differ in bits, group size and dtype: the op-by-op logits bit for bit', async () => {
  const preset = parsePreset(
    {
      name: 'mixed-mlp',
      description: 'every MLP weight of its own layout',
      default: { bits: 4, group_size: 64 },
      rules: [
        { pattern: 'switch_mlp\\.up_proj', bits: 3, group_size: 128 },
        { pattern: 'switch_mlp\\.down_proj', bits: 2, group_size: 32 },
        { pattern: 'shared_experts\\.gate_proj', bits: 8, group_size: 32 },
        { pattern: 'shared_experts\\.up_proj', keep: true },
        { pattern: 'shared_experts\\.down_proj', bits: 6, group_size: 128 },
        { pattern: 'layers\\.0\\.mlp\\.(gate|up)_proj', bits: 5, group_size: 32 },
        { pattern: 'layers\\.0\\.mlp\\.down_proj', keep: true },
      ],
    },
    'fusedLayers.test',
  );
  const dir = join(tmpDir(), 'mixed-mlp');
  await convert({ src: TINY_KIMI, dst: dir, preset, threads: 1 });
  const fused = (await loadModel(dir, new NativeOps())).model;
  const plain = (await loadModel(dir, new NativeOps({ fusedLayers: false }))).model;
  for (const B of [1, 3, 8]) {
    const len = (b: number) => 1 + ((b * 5 + B) % 11);
    assertIdentical(decodeRun(fused, B, 3, len), decodeRun(plain, B, 3, len), `B ${B}`);
  }
  const prompt = Array.from({ length: 21 }, (_, i) => (i * 29 + 7) % fused.info.vocabSize);
  const all = (m: CausalLM) => [m.ops.read(m.forward(prompt, m.newCache(), { allLogits: true }))];
  assertIdentical(all(fused), all(plain), 'a 21-token prompt, all logits');
});

/** B sequences joining a running batch at rounds b % 3 (prompts of different lengths beside one-token steps), `rounds` steps: every step's logits. */
function mixedRun(model: CausalLM, B: number, rounds: number): Float32Array[] {
  const V = model.info.vocabSize;
  const caches: (KvCache | null)[] = Array.from({ length: B }, () => null);
  const next: number[] = new Array<number>(B).fill(0);
  const out: Float32Array[] = [];
  for (let round = 0; round < rounds; round++) {
    const items = caches.flatMap((c, b) => {
      if (b % 3 > round) return [];
      if (c) return [{ b, ids: [next[b]!], cache: c }];
      const cache = (caches[b] = model.newCache());
      return [{ b, ids: Array.from({ length: 2 + 3 * b }, (_, i) => (i * 131 + b * 17 + 5) % V), cache }];
    });
    const logits = model.ops.read(model.forwardBatch(items));
    out.push(logits);
    items.forEach((it, i) => (next[it.b] = argmax(logits, i * V, V)));
  }
  return out;
}

test('prompts (every position) and steps mixing prompts with decoding sequences, bit for bit', async () => {
  for (const c of CASES) {
    const fused = (await loadModel(c.dir, new NativeOps({ activationBits: c.activationBits }))).model;
    const plain = (await loadModel(c.dir, new NativeOps({ activationBits: c.activationBits, fusedLayers: false }))).model;
    const prompt = Array.from({ length: 37 }, (_, i) => (i * 53 + 11) % fused.info.vocabSize);
    const all = (m: CausalLM) => [m.ops.read(m.forward(prompt, m.newCache(), { allLogits: true }))];
    assertIdentical(all(fused), all(plain), `${c.name}: a 37-token prompt, all logits`);
    for (const B of [2, 5, 8]) assertIdentical(mixedRun(fused, B, 5), mixedRun(plain, B, 5), `${c.name}: B ${B}, mixed steps`);
  }
});

test('in-place cache rows: a fork and a trimmed cache decode as with writeRows', async () => {
  const fused = (await loadModel(TINY_KIMI, new NativeOps())).model;
  const plain = (await loadModel(TINY_KIMI, new NativeOps({ fusedLayers: false }))).model;
  const run = (model: CausalLM) => {
    const V = model.info.vocabSize;
    const a = model.newCache();
    model.forward([5, 6, 7, 8, 9, 10], a);
    const fork = a.copy(4); // shares a's buffers for rows 0…3
    const out: Float32Array[] = [];
    out.push(model.ops.read(model.forward([11], a))); // a writes row 6 in place: the fork must not see it
    out.push(model.ops.read(model.forward([12], fork))); // the fork writes its row 4: a's row 4 must stay
    out.push(model.ops.read(model.forward([13], a)));
    a.trim(3); // rows 3…7 were seen by views: the next write must not change them under the fork
    out.push(model.ops.read(model.forwardBatch([{ ids: [14], cache: a }, { ids: [15], cache: fork }])));
    out.push(model.ops.read(model.forward([16], fork)));
    assert.is(a.length, 4);
    assert.is(fork.length, 7);
    return out.map((l) => l.slice(0, 2 * V));
  };
  assertIdentical(run(fused), run(plain), 'fork and trim');
});

test('calibration taps see every op: a tapped native backend decodes op by op', async () => {
  const ops = new NativeOps();
  let linears = 0;
  const tapped = tapOps(ops, { linear: () => void linears++ });
  assert.is(tapped.mlaLayers, undefined);
  const { model } = await loadModel(TINY_KIMI, tapped);
  const cache = model.newCache();
  model.forward([1, 2, 3], cache);
  linears = 0;
  model.forward([4], cache);
  assert.ok(linears >= 4 * 4, `${linears} linear calls for one decoded token`);
});

test('bad layer descriptors and cache buffers are refused with what was expected', async () => {
  const ops = new NativeOps();
  const { model } = await loadModel(TINY_KIMI, ops);
  const cache = model.newCache();
  model.forward([1, 2, 3], cache);
  const x = ops.constant(new Float32Array(256), [1, 256]);
  const layer = (model as unknown as { layerWeights(l: number): import('../../lib/backend/ops.js').MlaLayerWeights }).layerWeights(1);
  const at3 = [{ tokens: 1, offset: 3 }];
  // A cache buffer without room for the row.
  assert.throws(() => ops.mlaLayers!(x, [layer], [[ops.zeros([3, 1, 80])]], at3), /cache buffer \[3,1,80\] of layer 0 cannot take 1 rows \[1, 80\] at 3/);
  // Rows of x that the segments do not account for.
  assert.throws(() => ops.mlaLayers!(x, [layer], [[ops.zeros([256, 1, 80])]], [{ tokens: 2, offset: 3 }]), /x \[1,256\] for 1 sequences of 2 tokens/);
  // Shapes that do not fit each other: kv_a_proj where o_proj belongs.
  assert.throws(() => ops.mlaLayers!(x, [{ ...layer, oProj: layer.kvA }], [[ops.zeros([256, 1, 80])]], at3), /MlaLayer.oProj: a weight of 1 × \[80, 256\], expected 1 × \[256, /);
  // The addon itself checks its arguments (lengths against positions, token counts).
  const addon = modelOps();
  assert.throws(() => addon.opMlaLayers([], new Float32Array(256), new Int32Array([1]), new Int32Array([0]), [], new Float32Array(256), 8), /no layers/);
  assert.throws(() => addon.opMlaLayers([], new Float32Array(256), new Int32Array([0]), new Int32Array([0]), [], new Float32Array(256), 8), /no layers|0 tokens/);
});

test.run();

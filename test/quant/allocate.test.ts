import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { tensorTable } from '../../lib/models/registry.js';
import { allocate, type AllocUnit, lowerHull } from '../../lib/quant/allocate.js';
import { planQuantization } from '../../lib/quant/plan.js';
import { loadPreset } from '../../lib/quant/preset.js';
import { allocateRecipe, allocationGroups, optionKey, recipePreset, recipePresetJson, recipeSizes, resolveSpec, STORAGE_OPTIONS } from '../../lib/quant/recipe.js';

const u = (id: string, pts: [number, number][]): AllocUnit => ({ id, options: pts.map(([bytes, loss]) => ({ bytes, loss })) });

/** Exhaustive search over every combination: the reference the greedy answer is held to. */
function bruteForce(units: AllocUnit[], budget: number): number {
  let best = Infinity;
  const rec = (i: number, bytes: number, loss: number) => {
    if (bytes > budget) return;
    if (i === units.length) {
      best = Math.min(best, loss);
      return;
    }
    for (const o of units[i]!.options) rec(i + 1, bytes + o.bytes, loss + o.loss);
  };
  rec(0, 0, 0);
  return best;
}

test('lower hull drops dominated options and points above a chord', () => {
  // (10,5) is dominated by (8,4); (4,6) lies above the chord (2,10)→(6,1): at x=4 the chord is 5.5.
  const opts: [number, number][] = [[2, 10], [4, 6], [6, 1], [10, 5], [8, 4], [12, 0.5]];
  const h = lowerHull(opts.map(([bytes, loss]) => ({ bytes, loss })));
  assert.equal(h.map((i) => opts[i]), [[2, 10], [6, 1], [12, 0.5]]);
});

test('hand-computed knapsack: two units, the cheaper loss per byte bought first', () => {
  // A: 10 B loss 8 → 20 B loss 2 (0.6 per byte); B: 10 B loss 5 → 15 B loss 1 (0.8 per byte).
  const units = [u('A', [[10, 8], [20, 2]]), u('B', [[10, 5], [15, 1]])];
  assert.equal(allocate(units, 20), { choice: [0, 0], bytes: 20, loss: 13 });
  assert.equal(allocate(units, 25), { choice: [0, 1], bytes: 25, loss: 9 });
  assert.equal(allocate(units, 34), { choice: [0, 1], bytes: 25, loss: 9 });
  assert.equal(allocate(units, 35), { choice: [1, 1], bytes: 35, loss: 3 });
  assert.throws(() => allocate(units, 19), (e: unknown) => e instanceof MlxkError && /smallest reachable size, 20 bytes/.test((e as Error).message));
});

test('hand-computed knapsack: a unit goes up two steps of its hull in order', () => {
  // A hull: (1,9) → (2,4) [5/B] → (4,2) [1/B]; B: (1,3) → (3,1) [1/B, equal ratio, listed later].
  const units = [u('A', [[1, 9], [2, 4], [4, 2], [3, 3.5]]), u('B', [[1, 3], [3, 1]])];
  assert.equal(allocate(units, 3).choice, [1, 0]);
  assert.equal(allocate(units, 5).choice, [2, 0]);
  assert.equal(allocate(units, 7), { choice: [2, 1], bytes: 7, loss: 3 });
});

function randomUnits(seed: number, n: number): AllocUnit[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const size = 1 + Math.floor(rnd() * 20);
    // Loss falling with bits like 2^-2b: convex in bytes, as quantization error is.
    return u(`u${i}`, [2, 3, 4, 6, 8].map((b) => [size * b, size * rnd() * 4 * 2 ** (-2 * b) * (0.5 + rnd())] as [number, number]));
  });
}

test('monotone in the budget (loss never rises, size never falls) and within one module of it', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const units = randomUnits(seed, 12);
    const min = units.reduce((a, x) => a + x.options[0]!.bytes, 0);
    const max = units.reduce((a, x) => a + x.options[x.options.length - 1]!.bytes, 0);
    const widest = Math.max(...units.map((x) => x.options[x.options.length - 1]!.bytes - x.options[0]!.bytes));
    let prev = allocate(units, min);
    for (let budget = min; budget <= max + 5; budget++) {
      const a = allocate(units, budget);
      assert.ok(a.bytes <= budget, `within the budget at ${budget}`);
      assert.ok(a.loss <= prev.loss + 1e-12, `loss non-increasing at ${budget}`);
      assert.ok(a.bytes >= prev.bytes, `size non-decreasing at ${budget}`);
      assert.ok(budget - a.bytes < widest || a.bytes === max, `left ${budget - a.bytes} B unused at ${budget}, more than one module's step`);
      prev = a;
    }
  }
});

test('at the sizes its steps land on, the greedy answer equals the exhaustive optimum over all options', () => {
  for (let seed = 11; seed <= 14; seed++) {
    const units = randomUnits(seed, 5);
    let hits = 0;
    let last = -1;
    const min = units.reduce((a, x) => a + x.options[0]!.bytes, 0);
    const max = units.reduce((a, x) => a + x.options[x.options.length - 1]!.bytes, 0);
    for (let budget = min; budget <= max; budget++) {
      const a = allocate(units, budget);
      if (a.bytes === last || a.bytes !== budget) continue;
      last = a.bytes;
      // A prefix of the ratio-sorted steps minimises loss + λ·bytes for λ = its last step's ratio over
      // every unit, so no combination of options (hull or not) within these bytes loses less.
      assert.ok(Math.abs(a.loss - bruteForce(units, budget)) < 1e-9, `seed ${seed} budget ${budget}`);
      hits++;
    }
    assert.ok(hits > 3);
  }
});

test('tiny-kimi: units, group fallback for narrow modules, and the recipe round trip through the preset loader', () => {
  const ckpt = Checkpoint.open('models/tiny-kimi');
  const table = tensorTable(ckpt.config, 'models/tiny-kimi/config.json');
  ckpt.close();
  const groups = allocationGroups(table);
  // layer 0: attn + dense MLP; layers 1–3: attn, shared experts, three expert projections; embed; lm_head.
  assert.is(groups.length, 2 + 3 * 5 + 2);
  const embedQ = groups.find((g) => g.id === 'attn.1')!.modules.find((m) => m.module.endsWith('embed_q'))!;
  assert.equal(resolveSpec(embedQ, { bits: 3, groupSize: 128 }), { bits: 3, groupSize: 32 });
  const sizes = recipeSizes(table);
  // Loss: 2^-2b per weight times a per-unit weight (attention and dense costlier), 0 kept.
  const losses = sizes.groups.map((g) => STORAGE_OPTIONS.map((o) => (o ? (g.role === 'expert' ? 1 : 30) * g.modules.reduce((a, m) => a + m.params, 0) * 2 ** (-2 * o.bits) * (1 + o.groupSize / 256) : 0)));
  const budget = (3.2 * sizes.params) / 8;
  const r = allocateRecipe(sizes, losses, budget, 'mse');
  assert.ok(r.bytes <= budget && r.bytes > budget - Math.max(...sizes.bytes.map((b) => Math.max(...b) - Math.min(...b))));
  const dir = mkdtempSync(join(tmpdir(), 'mlxk-recipe-'));
  const file = join(dir, 'recipe.json');
  writeFileSync(file, JSON.stringify(recipePresetJson(r, 'tiny-3.2', 'test'), null, 2));
  for (const preset of [loadPreset(file), recipePreset(r, 'tiny-3.2', 'test')]) {
    const plan = planQuantization(table, preset);
    assert.is(plan.bytes, r.bytes, 'the planner counts the bytes the allocator counted');
    for (const m of plan.modules) {
      if (!r.modules.has(m.module)) continue;
      assert.equal(m.quant, r.modules.get(m.module), m.module);
    }
  }
  // Experts are cheap to lose bits in: they sit below attention here.
  const bitsOf = (id: string) => r.groups.find((g) => g.id === id)!.option?.bits ?? 16;
  assert.ok(bitsOf('model.layers.1.mlp.switch_mlp.gate_proj') < bitsOf('attn.1'));
  assert.ok(STORAGE_OPTIONS.map(optionKey).includes('keep'));
});

test.run();

// The sampler against distributions worked out by hand, a brute-force reference on a
// large random vocabulary, and its own draws.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sampler, type SamplingOptions, seededRandom, tokenLogprobs } from '../../lib/engine/sampler.js';
import { MlxkError } from '../../lib/io/errors.js';
import { normal, rng, runSeed } from '../helpers.js';

const seed = runSeed();
console.log(`sampler seed ${seed} (MLXK_SEED=${seed} reproduces)`);
const next = rng(seed);

/** logits whose softmax is exactly p */
const fromProbs = (p: number[]) => Float32Array.from(p.map(Math.log));
const P = [0.5, 0.3, 0.15, 0.05];

function close(got: ArrayLike<number>, want: number[], what: string): void {
  assert.is(got.length, want.length, what);
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) < 1e-6, `${what}[${i}]: ${got[i]} vs ${w}`));
}

test('temperature 1 keeps the softmax; temperature 2 takes its square root, renormalized', () => {
  close(new Sampler({ temperature: 1 }).distribution(fromProbs(P)), P, 't=1');
  const root = P.map(Math.sqrt);
  const z = root.reduce((a, b) => a + b, 0);
  close(new Sampler({ temperature: 2 }).distribution(fromProbs(P)), root.map((r) => r / z), 't=2');
});

test('top-k, top-p and min-p keep the hand-picked sets', () => {
  close(new Sampler({ topK: 2 }).distribution(fromProbs(P)), [0.5 / 0.8, 0.3 / 0.8, 0, 0], 'top_k 2');
  close(new Sampler({ topP: 0.8 }).distribution(fromProbs(P)), [0.5 / 0.8, 0.3 / 0.8, 0, 0], 'top_p 0.8: 0.5 + 0.3 reaches it');
  close(new Sampler({ topP: 0.81 }).distribution(fromProbs(P)), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], 'top_p 0.81 needs the third');
  close(new Sampler({ topP: 0.3 }).distribution(fromProbs(P)), [1, 0, 0, 0], 'top_p below the top token keeps it alone');
  close(new Sampler({ minP: 0.4 }).distribution(fromProbs(P)), [0.5 / 0.8, 0.3 / 0.8, 0, 0], 'min_p 0.4: p ≥ 0.2');
  close(new Sampler({ minP: 0.29 }).distribution(fromProbs(P)), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], 'min_p 0.29: p ≥ 0.145');
  close(new Sampler({ topK: 3, topP: 0.9 }).distribution(fromProbs(P)), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], 'top_p on the top-3 renormalized (0.5/0.95 + 0.3/0.95 < 0.9)');
});

test('repetition penalty divides positive and multiplies negative logits of recent tokens', () => {
  const s = new Sampler({ temperature: 0, repetitionPenalty: 2, repetitionContext: 2 });
  close(s.penalized(Float32Array.from([2, -1, 0.5, 1.8]), [3, 0, 1]), [1, -2, 0.5, 1.8], 'only the last two tokens (0, 1) count');
  assert.is(s.sample(Float32Array.from([2, -1, 0.5, 1.8]), [3, 0, 1]), 3, 'greedy after the penalty picks 3');
  assert.is(new Sampler({ temperature: 0 }).sample(Float32Array.from([2, -1, 0.5, 1.8]), [0]), 0);
});

test('logit bias, presence and frequency penalties (OpenAI: per generated occurrence)', () => {
  const s = new Sampler({ temperature: 0, logitBias: { 2: 5 }, presencePenalty: 0.5, frequencyPenalty: 0.25 });
  // token 1 generated twice: 3 − 0.5 − 2·0.25 = 2; token 3 once: 1 − 0.75 = 0.25; token 2: 0 + 5
  close(s.penalized(Float32Array.from([0.5, 3, 0, 1]), [9, 9], [1, 3, 1]), [0.5, 2, 5, 0.25], 'penalized');
  assert.is(s.sample(Float32Array.from([0.5, 3, 0, 1]), [], [1, 3, 1]), 2);
  assert.throws(() => new Sampler({ presencePenalty: 3 }), /presence_penalty must be in \[-2, 2\]/);
  assert.throws(() => new Sampler({ logitBias: { 7: 101 } }), /logit_bias\[7\] must be in \[-100, 100\]/);
});

test('log-probabilities: log-softmax of the chosen token and the top alternatives, best first', () => {
  const r = tokenLogprobs(fromProbs(P), 2, 3);
  assert.ok(Math.abs(r.logprob - Math.log(0.15)) < 1e-6);
  assert.equal(r.top.map((t) => t.tokenId), [0, 1, 2]);
  close(r.top.map((t) => t.logprob), [Math.log(0.5), Math.log(0.3), Math.log(0.15)], 'top');
  assert.equal(tokenLogprobs(Float32Array.from([1, 2, 2, 0]), 0, 2).top.map((t) => t.tokenId), [1, 2], 'ties: lower id first');
  assert.equal(tokenLogprobs(fromProbs(P), 0, 0).top, []);
});

test('greedy takes the first of equal maxima', () => {
  assert.is(new Sampler({ temperature: 0 }).sample(Float32Array.from([1, 3, 3, 2])), 1);
});

test('top-k/top-p/min-p on a 50k vocabulary match a full sort', () => {
  const n = 50_000;
  const logits = normal(n, 3, next);
  for (const o of [{ topP: 0.9 }, { topK: 40 }, { minP: 0.05 }, { topK: 200, topP: 0.5, temperature: 0.7 }]) {
    const got = new Sampler(o).distribution(logits);
    const t = o.temperature ?? 1;
    const max = Math.max(...logits);
    let p = Array.from(logits, (z) => Math.exp((z - max) / t));
    const norm = (v: number[]) => {
      const s = v.reduce((a, b) => a + b, 0);
      return v.map((x) => x / s);
    };
    p = norm(p);
    const order = p.map((_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    if (o.topK) p = norm(p.map((x, i) => (order.indexOf(i) < o.topK! ? x : 0)));
    if (o.topP) {
      const keep = new Set<number>();
      let mass = 0;
      for (const i of order) {
        if (mass >= o.topP) break;
        keep.add(i);
        mass += p[i]!;
      }
      p = norm(p.map((x, i) => (keep.has(i) ? x : 0)));
    }
    if (o.minP) {
      const cut = o.minP * Math.max(...p);
      p = norm(p.map((x) => (x >= cut ? x : 0)));
    }
    let diff = 0;
    for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(got[i]! - p[i]!));
    assert.ok(diff < 1e-9, `${JSON.stringify(o)}: max difference ${diff}`);
  }
});

/**
 * The definition written out plainly: softmax over the whole vocabulary (sum in id order), a
 * full sort (probability descending, ties to the lower id), top-k, top-p over the remaining
 * mass, min-p, renormalization in id order.
 */
function referenceDistribution(logits: Float32Array, o: SamplingOptions): Float64Array {
  const n = logits.length;
  const t = o.temperature ?? 1;
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const p = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += p[i] = Math.exp((logits[i]! - max) / t);
  for (let i = 0; i < n; i++) p[i]! /= total;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  if (o.topK) for (const i of order.slice(o.topK)) p[i] = 0;
  if (o.topP !== undefined && o.topP < 1) {
    const target = o.topP * p.reduce((a, b) => a + b, 0);
    let sum = 0;
    let taken = 0;
    while (taken < n && p[order[taken]!]! > 0 && sum < target) sum += p[order[taken++]!]!;
    for (const i of order.slice(taken)) p[i] = 0;
  }
  if (o.minP) {
    const cut = o.minP * p.reduce((a, b) => Math.max(a, b), 0);
    for (let i = 0; i < n; i++) if (p[i]! < cut) p[i] = 0;
  }
  const kept = p.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n; i++) p[i]! /= kept;
  return p;
}

/** One draw from a distribution: the first token (in id order) whose cumulative mass passes u. */
function referenceDraw(p: Float64Array, u: number): number {
  let acc = 0;
  let last = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    acc += p[i]!;
    last = i;
    if (u < acc) return i;
  }
  return last;
}

test('distributions and seeded draws equal the plain definition bit for bit, over random logits and settings', () => {
  const settings: SamplingOptions[] = [];
  for (const temperature of [0.3, 1, 1.7])
    for (const topK of [0, 1, 7, 300])
      for (const topP of [1, 0.5, 0.93]) for (const minP of [0, 0.02, 0.3]) settings.push({ temperature, topK, topP, minP });
  let draws = 0;
  for (const [c, o] of settings.entries()) {
    const n = [50, 4128, 32000][c % 3]!;
    const logits = normal(n, [0.5, 2, 6][(c >> 2) % 3]!, next);
    // Every fourth case on a coarse grid, so many tokens tie exactly (ties go to the lower id).
    if (c % 4 === 0) for (let i = 0; i < n; i++) logits[i] = Math.round(logits[i]! * 2) / 2;
    const seed = Math.floor(next() * 2 ** 32);
    const sampler = new Sampler({ ...o, seed });
    const want = referenceDistribution(logits, o);
    const got = sampler.distribution(logits);
    const off = got.findIndex((v, i) => v !== want[i]);
    assert.is(off, -1, `${JSON.stringify(o)} over ${n} tokens: p[${off}] ${got[off]} vs ${want[off]}`);
    const u = seededRandom(seed);
    for (let d = 0; d < 20; d++, draws++) assert.is(sampler.sample(logits), referenceDraw(want, u()), `${JSON.stringify(o)}, seed ${seed}, draw ${d}`);
  }
  assert.ok(draws >= 2000);
});

test('a seed reproduces the draws; draws follow the distribution', () => {
  // Fixed, nearly flat logits: two seeds give equal 50-draw runs with probability ~ 40^-50,
  // where seeded random logits can put more than 95 % on one token and make every run equal.
  const logits = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const draw = (s: number) => {
    const sampler = new Sampler({ seed: s, temperature: 0.8, topP: 0.95 });
    return Array.from({ length: 50 }, () => sampler.sample(logits));
  };
  assert.equal(draw(7), draw(7));
  assert.not.equal(draw(7), draw(8));
  const sampler = new Sampler({ seed: 1234, temperature: 1 });
  const want = sampler.distribution(fromProbs(P));
  const counts = [0, 0, 0, 0];
  const N = 40_000;
  for (let i = 0; i < N; i++) counts[sampler.sample(fromProbs(P))]!++;
  counts.forEach((c, i) => assert.ok(Math.abs(c / N - want[i]!) < 0.012, `token ${i}: frequency ${c / N} vs ${want[i]}`));
});

test('out-of-range settings are refused by name', () => {
  assert.throws(() => new Sampler({ topP: 0 }), (e: unknown) => e instanceof MlxkError && /top_p must be in \(0, 1\], got 0/.test((e as Error).message));
  assert.throws(() => new Sampler({ temperature: -1 }), /temperature must be ≥ 0/);
  assert.throws(() => new Sampler({ topK: 1.5 }), /top_k must be a non-negative integer/);
  assert.throws(() => new Sampler({ minP: 2 }), /min_p must be in \[0, 1\]/);
});

test.run();

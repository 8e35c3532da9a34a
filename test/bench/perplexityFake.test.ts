// Perplexity bookkeeping on a model whose distributions are known exactly (fakeModel.ts):
// which positions are scored, chunking, KL divergence and top-1 agreement by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluatePerplexity } from '../../lib/bench/perplexity.js';
import { planWindows } from '../../lib/bench/windows.js';
import { fakeModel, favouredNll, otherNll } from './fakeModel.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

// Vocabulary 5, favoured logit ln 4: p(t+1 | t) = 4/8 = 1/2, any other token 1/8.
const V = 5;
const S = Math.log(4);
// Windows of 4: [0 1 2 4] [0 1 1 2], tail [3]. Scored: 0→1 ✓, 1→2 ✓, 2→4 ✗ | 0→1 ✓, 1→1 ✗, 1→2 ✓.
// Not scored: 4→0 across the window end (favoured: scoring it would lower the result) and the tail.
const IDS = [0, 1, 2, 4, 0, 1, 1, 2, 3];

test('only positions 1..L−1 of each window are scored, against the next token', async () => {
  const { windows, scoredTokens } = planWindows(IDS, 4);
  const r = await evaluatePerplexity({ models: [fakeModel({ vocab: V, maxContext: 64, strength: S })], windows });
  close(favouredNll(S, V), Math.log(2));
  close(otherNll(S, V), Math.log(8));
  // 4 × ln 2 + 2 × ln 8 = 10 ln 2 over 6 positions → ppl 2^(5/3).
  assert.is(r.scoredTokens, 6);
  assert.is(scoredTokens, 6);
  close(r.models[0]!.meanNll, (10 / 6) * Math.log(2));
  close(r.models[0]!.ppl, 2 ** (5 / 3));
  // Deviations −2/3 ln 2 (×4) and 4/3 ln 2 (×2): Σ² = 16/3 ln²2, variance 16/15 ln²2, SE of the mean √(16/15/6) ln 2.
  close(r.models[0]!.se, 2 ** (5 / 3) * Math.sqrt(16 / 15 / 6) * Math.log(2));
  assert.is(r.windows, 2);
  assert.is(r.partial, false);
  assert.is(r.baseline, undefined);
});

test('chunked forward passes give the same result as whole windows', async () => {
  const { windows } = planWindows(IDS, 4);
  const whole = await evaluatePerplexity({ models: [fakeModel({ vocab: V, maxContext: 64, strength: S })], windows });
  for (const chunkTokens of [1, 2, 3]) {
    const r = await evaluatePerplexity({ models: [fakeModel({ vocab: V, maxContext: 64, strength: S })], windows, chunkTokens });
    assert.is(r.scoredTokens, whole.scoredTokens);
    close(r.models[0]!.meanNll, whole.models[0]!.meanNll, 1e-12);
  }
});

test('KL divergence and top-1 agreement against a baseline, by hand', async () => {
  const { windows } = planWindows(IDS, 4);
  const base = fakeModel({ vocab: V, maxContext: 64, strength: S });
  // Favoured logit ln 9: q(t+1) = 9/13, others 1/13.
  const other = fakeModel({ vocab: V, maxContext: 64, strength: Math.log(9) });
  const self = fakeModel({ vocab: V, maxContext: 64, strength: S });
  const r = await evaluatePerplexity({ models: [other, self], baseline: base, windows });
  const kl = 0.5 * Math.log(0.5 / (9 / 13)) + 4 * 0.125 * Math.log(0.125 / (1 / 13));
  close(r.models[0]!.kl!.mean, kl);
  close(r.models[0]!.kl!.p99, kl);
  close(r.models[0]!.kl!.se, 0, 1e-9);
  assert.is(r.models[0]!.top1Agreement, 1);
  assert.is(r.models[1]!.kl!.mean, 0);
  assert.is(r.models[1]!.top1Agreement, 1);
  close(r.baseline!.ppl, 2 ** (5 / 3));
  close(r.models[1]!.ppl, r.baseline!.ppl, 1e-12);
});

test('a model whose favourite differs from the baseline\'s everywhere agrees on no position', async () => {
  const { windows } = planWindows(IDS, 4);
  const base = fakeModel({ vocab: V, maxContext: 64, strength: S });
  const shifted = fakeModel({ vocab: V, maxContext: 64, strength: S, shift: 2 });
  const r = await evaluatePerplexity({ models: [shifted], baseline: base, windows });
  assert.is(r.models[0]!.top1Agreement, 0);
  // P: 1/2 on t+1, 1/8 elsewhere; Q: 1/2 on t+2, 1/8 elsewhere → KL = ½ ln 4 + ⅛ ln ¼ = (3/4) ln 2.
  close(r.models[0]!.kl!.mean, 0.75 * Math.log(2));
});

test('an aborted run keeps the windows done and says it is partial', async () => {
  const ids = Array.from({ length: 40 }, (_, i) => i % V);
  const { windows } = planWindows(ids, 4);
  const ctl = new AbortController();
  const r = await evaluatePerplexity({
    models: [fakeModel({ vocab: V, maxContext: 64, strength: S })], windows, signal: ctl.signal,
    onWindow: (done) => done === 3 && ctl.abort(),
  });
  assert.is(r.partial, true);
  assert.is(r.windows, 3);
  assert.is(r.windowsPlanned, 10);
  assert.is(r.scoredTokens, 9);
  // 0 1 2 3 4 0 1 2 … is the favoured chain everywhere: every scored NLL is ln 2.
  close(r.models[0]!.meanNll, Math.log(2));
});

test('data outside the vocabulary or windows beyond the context are refused', async () => {
  const m = fakeModel({ vocab: V, maxContext: 3, strength: S });
  const err1 = await evaluatePerplexity({ models: [m], windows: [[0, 1, 2, 3]] }).catch((e: Error) => e);
  assert.match(String((err1 as Error).message), /--seq-len 4 is longer than the model's context \(3\)/);
  const err2 = await evaluatePerplexity({ models: [fakeModel({ vocab: V, maxContext: 8, strength: S })], windows: [[0, 7, 1]] }).catch((e: Error) => e);
  assert.match(String((err2 as Error).message), /token id 7 of the data is outside the model's vocabulary \(0\.\.4\)/);
  const err3 = await evaluatePerplexity({ models: [m], baseline: fakeModel({ vocab: 6, maxContext: 8, strength: S }), windows: [[0, 1]] }).catch((e: Error) => e);
  assert.match(String((err3 as Error).message), /different vocabularies \(6 and 5\)/);
});

test.run();

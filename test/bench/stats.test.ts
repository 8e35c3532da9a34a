// Summaries, windowing and per-position quantities against values worked out by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { argmax, klDivergence, logSumExp, nll } from '../../lib/bench/logits.js';
import { perplexityOf, quantile, RunningStats, spread } from '../../lib/bench/stats.js';
import { planWindows } from '../../lib/bench/windows.js';
import { MlxkError } from '../../lib/io/errors.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('spread: median of odd and even counts, min and max', () => {
  assert.equal(spread([5, 1, 3]), { median: 3, min: 1, max: 5, n: 3 });
  assert.equal(spread([4, 1, 3, 10]), { median: 3.5, min: 1, max: 10, n: 4 });
  assert.equal(spread([7]), { median: 7, min: 7, max: 7, n: 1 });
});

test('running mean, sample variance and standard error by hand', () => {
  // 2 4 4 4 5 5 7 9: mean 5, Σ(x−5)² = 32, sample variance 32/7, SE = √(32/7/8).
  const s = new RunningStats();
  for (const x of [2, 4, 4, 4, 5, 5, 7, 9]) s.push(x);
  close(s.mean, 5);
  close(s.variance, 32 / 7);
  close(s.standardError, Math.sqrt(32 / 7 / 8));
});

test('perplexity standard error by the delta method: SE(ppl) = ppl · sd(NLL)/√n', () => {
  // NLL 1, 2, 3: mean 2, sample sd 1, n 3 → ppl e², SE e²/√3.
  const s = new RunningStats();
  for (const x of [1, 2, 3]) s.push(x);
  const { ppl, se } = perplexityOf(s);
  close(ppl, Math.exp(2));
  close(se, Math.exp(2) / Math.sqrt(3));
});

test('quantile interpolates between order statistics', () => {
  close(quantile([10, 0, 20, 30, 40], 0.5), 20);
  close(quantile([0, 10], 0.95), 9.5);
  close(quantile([3, 1, 2, 4], 0.25), 1.75);
});

test('windows: non-overlapping slices, tail dropped, L−1 scored per window', () => {
  const ids = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const p = planWindows(ids, 4);
  assert.equal(p.windows, [[10, 11, 12, 13], [14, 15, 16, 17]]);
  assert.is(p.tailDropped, 3);
  assert.is(p.available, 2);
  assert.is(p.scoredTokens, 6);
  const one = planWindows(ids, 4, 1);
  assert.equal(one.windows, [[10, 11, 12, 13]]);
  assert.is(one.scoredTokens, 3);
  assert.is(planWindows(ids, 11).tailDropped, 0);
  // The reference eval: 107907 tokens → 210 windows of 512, 387 dropped, 107310 scored.
  const big = planWindows(new Array<number>(107907).fill(0), 512);
  assert.equal([big.windows.length, big.tailDropped, big.scoredTokens], [210, 387, 107310]);
});

test('windows: too little data or bad sizes are one-line errors', () => {
  assert.throws(() => planWindows([1, 2, 3], 4), (e: unknown) => e instanceof MlxkError && /3 tokens, fewer than one window of 4/.test(e.message));
  assert.throws(() => planWindows([1, 2, 3], 1), /--seq-len must be an integer ≥ 2/);
  assert.throws(() => planWindows([1, 2, 3], 2, 0), /--max-windows must be a positive integer/);
});

test('NLL, log-sum-exp, argmax and KL divergence on rows worked out by hand', () => {
  // Row 0: logits [0, ln 3] → p = [1/4, 3/4]. Row 1: [ln 2, 0] → q = [2/3, 1/3].
  const rows = Float32Array.from([0, Math.log(3), Math.log(2), 0]);
  close(logSumExp(rows, 0, 2), Math.log(4), 1e-7);
  close(nll(rows, 0, 2, 1), -Math.log(3 / 4), 1e-7);
  close(nll(rows, 1, 2, 1), -Math.log(1 / 3), 1e-7);
  assert.is(argmax(rows, 0, 2), 1);
  assert.is(argmax(rows, 1, 2), 0);
  const p = Float32Array.from([0, Math.log(3)]);
  const q = Float32Array.from([Math.log(2), 0]);
  close(klDivergence(p, q, 0, 2), 0.25 * Math.log(0.25 / (2 / 3)) + 0.75 * Math.log(0.75 / (1 / 3)), 1e-7);
  assert.is(klDivergence(p, p, 0, 2), 0);
  // Large logits: no overflow (log-sum-exp shifts by the maximum). d is the float32 gap.
  const big = Float32Array.from([1000, 1000 + Math.log(3)]);
  const d = big[1]! - big[0]!;
  close(nll(big, 0, 2, 1), Math.log1p(Math.exp(-d)), 1e-12);
});

test.run();

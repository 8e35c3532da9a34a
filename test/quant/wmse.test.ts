// Importance-weighted scale/bias fitting (lib/quant/wmse.ts) against float64 references
// written here: the weighted least-squares solution of the 2×2 normal equations, the
// weighted error of mse's stored result, and the column-weighted output error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { roundingFor } from '../../lib/io/dtype.js';
import { dequantize, rint, unpack } from '../../lib/quant/affine.js';
import { quantizeMse } from '../../lib/quant/mse.js';
import { DEFAULT_IMATRIX_PRIOR, fitGroupWeighted, groupWeights, quantizeWmse, weightedFit, WMSE_PRIORS } from '../../lib/quant/wmse.js';
import { normal, rng, runSeed } from '../helpers.js';

/** Heavy-tailed positive importance (log-normal), as imatrix columns are. */
function importance(n: number, next: () => number): Float32Array {
  return Float32Array.from(normal(n, 1.5, next), (z) => Math.exp(z));
}

/**
 * min over (s, b) of Σ wᵢ(s·lᵢ + b − xᵢ)²: setting both partial derivatives to zero gives
 *   s·Σwl² + b·Σwl = Σwlx,   s·Σwl + b·Σw = Σwx,
 * solved here by eliminating b: b = (Σwx − s·Σwl)/Σw, then s·(Σwl² − (Σwl)²/Σw) = Σwlx − Σwl·Σwx/Σw.
 */
function normalEquations(x: Float32Array, w: Float64Array, l: number[]): { s: number; b: number; err: number } {
  let a = 0, c = 0, d = 0, e = 0, f = 0;
  for (let i = 0; i < x.length; i++) {
    a += w[i]! * l[i]! * l[i]!;
    c += w[i]! * l[i]!;
    d += w[i]!;
    e += w[i]! * l[i]! * x[i]!;
    f += w[i]! * x[i]!;
  }
  const s = (e - (c * f) / d) / (a - (c * c) / d);
  const b = (f - s * c) / d;
  let err = 0;
  for (let i = 0; i < x.length; i++) err += w[i]! * (s * l[i]! + b - x[i]!) ** 2;
  return { s, b, err };
}

test('the weighted fit is the weighted least-squares solution for its own nearest levels (float64 normal equations)', () => {
  const seed = runSeed();
  const next = rng(seed);
  for (const bits of [2, 3, 4]) {
    const nBins = (1 << bits) - 1;
    for (let t = 0; t < 200; t++) {
      const n = [32, 64, 128][t % 3]!;
      const x = normal(n, 0.02, next);
      const w = new Float64Array(n);
      groupWeights(x, 0, n, importance(n, next), 0, 'x2', w);
      const fit = weightedFit(x, 0, n, w, nBins)!;
      const l = Array.from(x, (v) => Math.min(nBins, Math.max(0, rint((v - fit.bias) / fit.scale))));
      const ref = normalEquations(x, w, l);
      const where = `${bits}-bit n=${n} group ${t} (seed ${seed})`;
      assert.ok(Math.abs(fit.scale - ref.s) <= 1e-6 * Math.abs(ref.s), `scale ${fit.scale} vs ${ref.s}, ${where}`);
      assert.ok(Math.abs(fit.bias - ref.b) <= 1e-6 * Math.abs(ref.s) * nBins, `bias ${fit.bias} vs ${ref.b}, ${where}`);
      assert.ok(Math.abs(fit.err - ref.err) <= 1e-9 * ref.err, `error ${fit.err} vs ${ref.err}, ${where}`);
    }
  }
});

test('a hand-computed group: x = 0, 1, 2, 4 with weights 1, 1, 1, 10 at 2 bits', () => {
  // 0, 1, 2, 4 is not affine in any levels, so some value is missed; the weight of 10 on x = 4 pulls the fit toward it.
  const x = Float32Array.from([0, 1, 2, 4]);
  const w = Float64Array.from([1, 1, 1, 10]);
  const fit = weightedFit(x, 0, 4, w, 3)!;
  const l = Array.from(x, (v) => Math.min(3, Math.max(0, rint((v - fit.bias) / fit.scale))));
  assert.equal(l, [0, 1, 2, 3]);
  const ref = normalEquations(x, w, l);
  // By hand: Σw = 13, Σwl = 33, Σwl² = 95, Σwx = 43, Σwlx = 125 → s = (13·125 − 33·43)/(13·95 − 33²) = 206/146, b = (43 − 33s)/13.
  assert.ok(Math.abs(ref.s - 206 / 146) < 1e-12);
  assert.ok(Math.abs(fit.scale - 206 / 146) < 1e-12 && Math.abs(fit.bias - (43 - 33 * (206 / 146)) / 13) < 1e-12);
  // The unweighted fit of the same levels would put the last value further off.
  const plain = normalEquations(x, Float64Array.from([1, 1, 1, 1]), l);
  assert.ok(Math.abs(fit.scale * 3 + fit.bias - 4) < Math.abs(plain.s * 3 + plain.b - 4));
});

function weightedError(x: Float32Array, off: number, n: number, w: Float64Array, scale: number, bias: number, nBins: number): number {
  let err = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nBins, Math.max(0, rint((x[off + i]! - bias) / scale)));
    err += w[i]! * (scale * l + bias - x[off + i]!) ** 2;
  }
  return err;
}

test('the stored weighted fit is never worse than mse under the weighted metric (every dtype, width, prior and imatrix)', () => {
  const seed = runSeed();
  const next = rng(seed);
  let better = 0;
  let total = 0;
  for (const dtype of ['BF16', 'F16', 'F32'] as const) {
    const store = roundingFor(dtype);
    for (const bits of [2, 3, 4, 8]) {
      const nBins = (1 << bits) - 1;
      for (const source of ['imatrix', ...WMSE_PRIORS] as const) {
        for (let t = 0; t < 40; t++) {
          const n = 64;
          const x = normal(n, 0.02, next).map(store);
          if (t % 10 === 0) x[t % n] = 0.3; // an outlier
          const w = new Float64Array(n);
          groupWeights(x, 0, n, source === 'imatrix' ? importance(n, next) : null, 0, source === 'imatrix' ? DEFAULT_IMATRIX_PRIOR : source, w);
          const ours = fitGroupWeighted(x, 0, n, w, nBins, dtype, store);
          const mse = quantizeMse(x, 1, n, bits, n, store);
          const eOurs = weightedError(x, 0, n, w, ours.scale, ours.bias, nBins);
          const eMse = weightedError(x, 0, n, w, mse.scales[0]!, mse.biases[0]!, nBins);
          assert.ok(eOurs <= eMse, `${dtype} ${bits}-bit ${source} group ${t}: ${eOurs} > mse ${eMse} (seed ${seed})`);
          assert.is(store(ours.scale), ours.scale);
          assert.is(store(ours.bias), ours.bias);
          total++;
          if (eOurs < eMse * (1 - 1e-9)) better++;
        }
      }
    }
  }
  // Not a tie by construction: the weighted fit wins on most groups.
  assert.ok(better > total / 2, `strictly better on ${better} of ${total} groups`);
});

test('with an imatrix the column-weighted output error ‖(Ŵ − W)·diag(√imp)‖ is lower than mse’s (uniform prior: exactly that metric; and the default)', () => {
  const seed = runSeed();
  const next = rng(seed);
  const rows = 64;
  const cols = 256;
  const store = roundingFor('BF16');
  for (const bits of [2, 3, 4]) {
    for (const gs of [32, 64, 128]) {
      const w = normal(rows * cols, 0.02, next).map(store);
      const imp = importance(cols, next);
      for (const prior of ['uniform', DEFAULT_IMATRIX_PRIOR] as const) {
        const ours = quantizeWmse(w, rows, cols, bits, gs, 'BF16', store, { importance: imp, prior });
        const mse = quantizeMse(w, rows, cols, bits, gs, store);
        const err = (q: { words: Uint32Array; scales: Float32Array; biases: Float32Array }) => {
          const d = dequantize(q.words, q.scales, q.biases, rows, cols, bits, gs);
          let s = 0;
          for (let i = 0; i < d.length; i++) s += imp[i % cols]! * (d[i]! - w[i]!) ** 2;
          return Math.sqrt(s);
        };
        const a = err(ours);
        const b = err(mse);
        assert.ok(a < b, `${bits}-bit g${gs} ${prior}: wmse ${a} not below mse ${b} (seed ${seed})`);
        // The codes are each value's nearest level for the stored scale and bias.
        const q = unpack(ours.words, rows, cols, bits);
        const g = 5;
        const s = ours.scales[g]!;
        const bb = ours.biases[g]!;
        for (let i = 0; i < gs; i++) {
          const v = w[g * gs + i]!;
          assert.is(q[g * gs + i], Math.min((1 << bits) - 1, Math.max(0, rint((v - bb) / s))));
        }
      }
    }
  }
});

test.run();

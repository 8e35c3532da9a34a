// The C++ quantizer (native/src/quantize.cc) against the JavaScript reference it mirrors:
// identical words, scales, biases and error sums for every width, group size, storage
// dtype and method, on fresh random data with the groups that stress MLX's rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantizeAffine } from '../../lib/backend/native/addon.js';
import { roundingFor } from '../../lib/io/dtype.js';
import { runQuantizeJobJs } from '../../lib/quant/quantizeJob.js';
import { WMSE_PRIORS } from '../../lib/quant/wmse.js';
import { normal, rng, runSeed } from '../helpers.js';

function matrix(rows: number, cols: number, next: () => number, round: (x: number) => number): Float32Array {
  const w = normal(rows * cols, 0.02, next);
  for (let i = 0; i < cols; i++) w[i] = -0.01 - next() * 0.05;
  for (let i = 0; i < cols; i++) w[cols + i] = 0.0312;
  for (let i = 0; i < cols; i++) w[2 * cols + i] = 0;
  w[3 * cols + 5] = 0.9;
  w[3 * cols + 70] = -1.3;
  for (let i = 4 * cols; i < 5 * cols; i++) w[i] = (next() - 0.5) * 1e-6;
  return w.map(round);
}

type Result = ReturnType<typeof quantizeAffine>;

/** Native and JavaScript results equal, bit for bit. */
function assertSame(nat: Result, js: Result, where: string, withRef: boolean): void {
  assert.equal(Array.from(nat.words), Array.from(js.words), `words, ${where}`);
  assert.equal(Array.from(nat.scales), Array.from(js.scales), `scales, ${where}`);
  assert.equal(Array.from(nat.biases), Array.from(js.biases), `biases, ${where}`);
  assert.is(nat.sqErr, js.sqErr, `sqErr, ${where}`);
  if (withRef) assert.is(nat.sqRef, js.sqRef, `sqRef, ${where}`);
}

/** Every width and group size over a 7-row matrix of `dtype`-rounded values, three groups wide. */
function eachCase(dtype: 'BF16' | 'F16' | 'F32', run: (c: { w: Float32Array; rows: number; cols: number; bits: number; gs: number; seed: number; next: () => number }) => void): void {
  const seed = runSeed();
  const next = rng(seed);
  for (const bits of [2, 3, 4, 5, 6, 8]) {
    for (const gs of [32, 64, 128]) {
      const rows = 7;
      const cols = gs * 3;
      run({ w: matrix(rows, cols, next, roundingFor(dtype)), rows, cols, bits, gs, seed, next });
    }
  }
}

for (const method of ['rtn', 'mse'] as const) {
  for (const dtype of ['BF16', 'F16', 'F32'] as const) {
    test(`native ${method} equals the JavaScript reference, ${dtype} storage, every width and group size`, () => {
      eachCase(dtype, ({ w, rows, cols, bits, gs, seed }) => {
        const js = runQuantizeJobJs({ w, rows, cols, bits, groupSize: gs, method, dtype });
        const nat = quantizeAffine(w, rows, cols, bits, gs, method, dtype.toLowerCase() as 'bf16');
        assertSame(nat, js, `${method} ${dtype} ${bits}-bit g${gs} (seed ${seed})`, true);
      });
    });
  }
}

for (const dtype of ['BF16', 'F16', 'F32'] as const) {
  test(`native wmse equals the JavaScript reference, ${dtype} storage, with and without an imatrix row, each prior`, () => {
    eachCase(dtype, ({ w, rows, cols, bits, gs, seed, next }) => {
      const imp = Float32Array.from(normal(cols, 1.5, next), (z) => Math.exp(z));
      imp.fill(0, 0, gs); // a group no calibration input reached: uniform weights
      for (const [importance, prior] of WMSE_PRIORS.flatMap((p) => [[imp, p], [null, p]] as const)) {
        process.env.MLXK_WMSE_PRIOR = prior;
        const js = runQuantizeJobJs({ w, rows, cols, bits, groupSize: gs, method: 'wmse', dtype, importance });
        const nat = quantizeAffine(w, rows, cols, bits, gs, 'wmse', dtype.toLowerCase() as 'bf16', importance, prior);
        assertSame(nat, js, `wmse ${dtype} ${bits}-bit g${gs} ${importance ? 'imatrix' : prior} (seed ${seed})`, false);
      }
      delete process.env.MLXK_WMSE_PRIOR;
    });
  });
}

test('bad arguments are errors naming the argument', () => {
  const w = new Float32Array(64);
  assert.throws(() => quantizeAffine(w, 1, 64, 7, 64, 'rtn', 'bf16'), /bits must be 2, 3, 4, 5, 6 or 8/);
  assert.throws(() => quantizeAffine(w, 1, 64, 4, 48, 'rtn', 'bf16'), /groupSize 32, 64 or 128/);
  assert.throws(() => quantizeAffine(w, 2, 64, 4, 64, 'rtn', 'bf16'), /quantizeAffine: w/);
  assert.throws(() => quantizeAffine(w, 1, 64, 4, 64, 'gptq' as 'rtn', 'bf16'), /method must be/);
  assert.throws(() => quantizeAffine(w, 1, 64, 4, 64, 'wmse', 'bf16', new Float32Array(32)), /quantizeAffine: importance/);
  assert.throws(() => quantizeAffine(w, 1, 64, 4, 64, 'wmse', 'bf16', null, 'x3'), /prior must be/);
});

test.run();

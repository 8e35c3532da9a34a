// The measuring switches of lib/quant/gptqJob.ts and lib/calib/hessian.ts (MLXK_GPTQ_REFIT,
// MLXK_GPTQ_GUARD, MLXK_GPTQ_START, MLXK_SHRINK_KAPPA): parsed and refused as documented, and
// each does what it says against an independent expectation (hand-computed shrinkage; the mse
// start refined by the JavaScript reference; the guard's choice against the objective).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Hessian, shrinkHessian, shrinkStrength } from '../../lib/calib/hessian.js';
import { roundingFor } from '../../lib/io/dtype.js';
import { unpack } from '../../lib/quant/affine.js';
import { experiment, factor, objective, quantizeGuarded, quantizeWithHessian } from '../../lib/quant/gptqJob.js';
import { hessianObjective, learnedRows, refitRows } from '../../lib/quant/learned.js';
import { runQuantizeJob } from '../../lib/quant/quantizeJob.js';
import { caseInputs, gram } from './gptqFixtures.js';

test('experiment(): defaults, accepted values, one-line refusals naming the variable', () => {
  assert.equal(experiment({}), { refitSweeps: 2, guard: true, start: 'gptq' });
  assert.equal(experiment({ MLXK_GPTQ_REFIT: '0', MLXK_GPTQ_GUARD: 'off', MLXK_GPTQ_START: 'mse' }), { refitSweeps: 0, guard: false, start: 'mse' });
  assert.throws(() => experiment({ MLXK_GPTQ_REFIT: '-1' }), /^MLXK_GPTQ_REFIT=-1: /);
  assert.throws(() => experiment({ MLXK_GPTQ_GUARD: 'no' }), /^MLXK_GPTQ_GUARD=no: expected on or off$/);
  assert.throws(() => experiment({ MLXK_GPTQ_START: 'rtn' }), /^MLXK_GPTQ_START=rtn: /);
  assert.is(shrinkStrength({}), 1);
  assert.is(shrinkStrength({ MLXK_SHRINK_KAPPA: '16' }), 16);
  assert.throws(() => shrinkStrength({ MLXK_SHRINK_KAPPA: '0' }), /^MLXK_SHRINK_KAPPA=0: /);
});

test('shrinkHessian at strength s: (H_e + s·n·H_shared/N_shared) / (N_e + s·n), by hand', () => {
  const own = new Hessian(2);
  own.add(Float32Array.from([1, 2]), 1); // H_e = [[1, 2], [2, 4]], N_e = 1
  const shared = new Hessian(2);
  shared.add(Float32Array.from([2, 0, 0, 2]), 2); // H = [[4, 0], [0, 4]], N = 2
  // s = 3: κ = 6, shared per token [[2, 0], [0, 2]]·6 = [[12, 0], [0, 12]]; denominator 7.
  assert.equal(Array.from(shrinkHessian(own, shared, 3)), [13 / 7, 2 / 7, 2 / 7, 16 / 7]);
  assert.equal(Array.from(shrinkHessian(own, shared, 1)), [5 / 3, 2 / 3, 2 / 3, 8 / 3]);
});

const CASE = { seed: 11, rows: 8, cols: 128, tokens: 96 };

function inputs() {
  const { w, x } = caseInputs(CASE.seed, CASE.rows, CASE.cols, CASE.tokens, []);
  const h = gram(x, CASE.tokens, CASE.cols);
  return { w: Float32Array.from(w, (v) => roundingFor('BF16')(v)), h };
}

test('MLXK_GPTQ_START=mse: the mse fit refined by the JavaScript reference; never above the mse objective', () => {
  const { w, h } = inputs();
  for (const bits of [2, 3]) {
    const gs = 64;
    const f = factor(h, CASE.cols, { damp: 0.01, actOrder: true, dtype: 'BF16' });
    const opts = { bits, groupSize: gs, dtype: 'BF16' as const, method: 'learned' as const, damp: 0.01, actOrder: true, iters: 4 };
    const got = quantizeWithHessian(w, CASE.rows, CASE.cols, f, opts, { refitSweeps: 2, guard: true, start: 'mse' });
    const m = runQuantizeJob({ w: w.slice(), rows: CASE.rows, cols: CASE.cols, bits, groupSize: gs, method: 'mse', dtype: 'BF16' });
    const ref = { codes: unpack(m.words, CASE.rows, CASE.cols, bits), scales: m.scales.slice(), biases: m.biases.slice() };
    const start = hessianObjective(w, CASE.rows, CASE.cols, ref, gs, f.damped);
    const ro = { bits, groupSize: gs, store: roundingFor('BF16') };
    refitRows(w, CASE.rows, CASE.cols, ref, f.damped, ro, 2);
    learnedRows(w, CASE.rows, CASE.cols, ref, f.damped, { ...ro, iters: 4 });
    assert.equal(Array.from(got.codes), Array.from(ref.codes), `${bits}-bit codes`);
    assert.equal(Array.from(got.scales), Array.from(ref.scales), `${bits}-bit scales`);
    const end = hessianObjective(w, CASE.rows, CASE.cols, got, gs, f.damped);
    assert.ok(end < start, `${bits}-bit: refined ${end} not below the mse start ${start}`);
  }
});

test('MLXK_GPTQ_GUARD=off keeps the method; on keeps the lowest objective of the three', () => {
  const { w, h } = inputs();
  // GPTQ against these inputs' H, scored on the identity (plain squared error), which the mse fit minimises.
  const eye = new Float64Array(CASE.cols * CASE.cols);
  for (let i = 0; i < CASE.cols; i++) eye[i * CASE.cols + i] = 1;
  const f = factor(h, CASE.cols, { damp: 0.01, actOrder: false, dtype: 'BF16' });
  const opts = { bits: 2, groupSize: 64, dtype: 'BF16' as const, method: 'gptq' as const, damp: 0.01, actOrder: false, iters: 0 };
  const on = quantizeGuarded(w, CASE.rows, CASE.cols, eye, f, opts, { refitSweeps: 0, guard: true, start: 'gptq' });
  const off = quantizeGuarded(w, CASE.rows, CASE.cols, eye, f, opts, { refitSweeps: 0, guard: false, start: 'gptq' });
  assert.is(off.kept, 'gptq');
  assert.is(off.error, objective(w, CASE.rows, CASE.cols, off, 64, eye, 'BF16'));
  assert.is(on.kept, 'mse');
  assert.is(on.error, on.mseError);
  assert.ok(on.error < off.error && on.error < on.rtnError, `kept ${on.error}, gptq ${off.error}, rtn ${on.rtnError}`);
});

test.run();

// The C++ GPTQ, refit and learned rounding (native/src/gptq.cc) against the float64 reference
// (tools/gptq_reference.py) and bit for bit against the JavaScript references, on the fixture's
// inputs and on fresh random matrices; the learned objective never above its GPTQ start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gptqFactor, gptqQuantize, hessianAccumulate, hessianObjective as nativeObjective, refineCodes } from '../../lib/backend/native/addon.js';
import { roundBf16 } from '../../lib/io/dtype.js';
import { factorHessian, gptqRows, jsFactorizer } from '../../lib/quant/gptq.js';
import { hessianObjective, learnedRows, refitRows } from '../../lib/quant/learned.js';
import { caseInputs, gram, referenceCases } from './gptqFixtures.js';
import { rng, runSeed } from '../helpers.js';

const native = (damped: Float64Array, n: number, perm: Int32Array) => gptqFactor(damped, n, perm);

for (const c of referenceCases()) {
  const name = `${c.bits}-bit g${c.groupSize}${c.actOrder ? ' act-order' : ''}${c.dead.length ? `, ${c.dead.length} dead columns` : ''}`;
  test(`C++ GPTQ equals the float64 reference and the JavaScript bit for bit: ${name}`, () => {
    const { w, x } = caseInputs(c.seed, c.rows, c.cols, c.tokens, c.dead);
    const h = new Float64Array(c.cols * c.cols);
    const xf = Float32Array.from(x);
    hessianAccumulate(h, c.cols, xf, c.tokens);
    assert.equal(Array.from(h), Array.from(gram(x, c.tokens, c.cols)), 'H = XᵀX exactly');
    const fn = factorHessian(h, c.cols, { damp: c.damp, actOrder: c.actOrder }, native);
    const fj = factorHessian(h, c.cols, { damp: c.damp, actOrder: c.actOrder }, jsFactorizer);
    assert.equal(Array.from(fn.u), Array.from(fj.u), 'Cholesky factor of H⁻¹');
    const q = gptqQuantize(w, c.rows, c.cols, fn.damped, fn.u, fn.perm, c.bits, c.groupSize, 'bf16', 0, 0);
    assert.equal(Array.from(q.codes), c.codes, 'codes');
    assert.equal(Array.from(q.scales), c.scales, 'scales');
    assert.equal(Array.from(q.biases), c.biases, 'biases');
    // With the refit and learned rounding: identical to the JavaScript, never worse than plain GPTQ.
    const full = gptqQuantize(w, c.rows, c.cols, fn.damped, fn.u, fn.perm, c.bits, c.groupSize, 'bf16', 2, 6);
    const js = gptqRows(w, c.rows, c.cols, fj, { bits: c.bits, groupSize: c.groupSize, dtype: 'BF16', store: roundBf16 });
    const opts = { bits: c.bits, groupSize: c.groupSize, store: roundBf16 };
    refitRows(w, c.rows, c.cols, js, fj.damped, opts, 2);
    learnedRows(w, c.rows, c.cols, js, fj.damped, { ...opts, iters: 6 });
    assert.equal(Array.from(full.codes), Array.from(js.codes), 'learned codes');
    assert.equal(Array.from(full.scales), Array.from(js.scales), 'learned scales');
    assert.equal(Array.from(full.biases), Array.from(js.biases), 'learned biases');
    const start = nativeObjective(w, c.rows, c.cols, q.codes, q.scales, q.biases, c.groupSize, fn.damped);
    const end = nativeObjective(w, c.rows, c.cols, full.codes, full.scales, full.biases, c.groupSize, fn.damped);
    assert.is(end, hessianObjective(w, c.rows, c.cols, js, c.groupSize, fj.damped), 'objective, C++ vs JS');
    assert.ok(end <= start, `learned objective ${end} above its GPTQ start ${start}`);
  });
}

test('larger random layers: C++ equals JavaScript bit for bit; GPTQ < RTN-start, learned ≤ GPTQ on the damped objective', () => {
  const seed = runSeed();
  const next = rng(seed);
  for (const [bits, gs, actOrder] of [[3, 64, true], [2, 128, false], [4, 32, false]] as const) {
    const rows = 24;
    const cols = 384;
    const tokens = 200;
    const w = Float32Array.from({ length: rows * cols }, () => roundBf16((next() - 0.5) * 0.05));
    const base = Float32Array.from({ length: tokens * 16 }, () => next() - 0.5);
    // Low-rank plus noise inputs: strongly correlated columns, as real activations are.
    const x = new Float32Array(tokens * cols);
    for (let t = 0; t < tokens; t++) for (let j = 0; j < cols; j++) x[t * cols + j] = base[t * 16 + (j % 16)]! * (1 + (j % 5)) + 0.1 * (next() - 0.5);
    const h = new Float64Array(cols * cols);
    hessianAccumulate(h, cols, x, tokens);
    const fn = factorHessian(h, cols, { damp: 0.01, actOrder }, native);
    const fj = factorHessian(h, cols, { damp: 0.01, actOrder }, jsFactorizer);
    const where = `${bits}-bit g${gs}${actOrder ? ' act-order' : ''} (seed ${seed})`;
    assert.equal(Array.from(fn.u), Array.from(fj.u), `factor, ${where}`);
    const g = gptqQuantize(w, rows, cols, fn.damped, fn.u, fn.perm, bits, gs, 'bf16', 2, 0);
    const l = gptqQuantize(w, rows, cols, fn.damped, fn.u, fn.perm, bits, gs, 'bf16', 2, 8);
    const js = gptqRows(w, rows, cols, fj, { bits, groupSize: gs, dtype: 'BF16', store: roundBf16 });
    refitRows(w, rows, cols, js, fj.damped, { bits, groupSize: gs, store: roundBf16 }, 2);
    assert.equal(Array.from(g.codes), Array.from(js.codes), `codes, ${where}`);
    assert.equal(Array.from(g.scales), Array.from(js.scales), `scales, ${where}`);
    const obj = (q: { codes: Uint8Array; scales: Float32Array; biases: Float32Array }) => nativeObjective(w, rows, cols, q.codes, q.scales, q.biases, gs, fn.damped);
    // Round-to-nearest with the GPTQ start's own group parameters, refined by nothing.
    const rtnCodes = new Uint8Array(rows * cols);
    const nBins = (1 << bits) - 1;
    for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) {
      const k = r * (cols / gs) + Math.floor(j / gs);
      rtnCodes[r * cols + j] = Math.min(nBins, Math.max(0, Math.round((w[r * cols + j]! - g.biases[k]!) / g.scales[k]!)));
    }
    const rtn = obj({ codes: rtnCodes, scales: g.scales, biases: g.biases });
    assert.ok(obj(g) < rtn, `GPTQ ${obj(g)} not below nearest rounding ${rtn}, ${where}`);
    assert.ok(obj(l) <= obj(g), `learned ${obj(l)} above GPTQ ${obj(g)}, ${where}`);
    // refineCodes from GPTQ's result is the same computation as gptqQuantize's learned step.
    const codes = g.codes.slice();
    const sc = g.scales.slice();
    const bi = g.biases.slice();
    refineCodes(w, rows, cols, codes, sc, bi, fn.damped, bits, gs, 'bf16', 0, 8);
    assert.equal(Array.from(codes), Array.from(l.codes), `refineCodes, ${where}`);
  }
});

test('the blocked forms (the rows of a task together, products of H by blocks) equal the row-at-a-time JavaScript at awkward sizes', () => {
  // 37 rows: tasks of 16, 16 and 5, row tiles of 4 plus a remainder; 352 columns: two 128-column
  // sweep blocks plus 96, 11 strips of 32; rows stop learning after different rounds.
  const seed = runSeed();
  const next = rng(seed);
  const rows = 37;
  const cols = 352;
  const tokens = 150;
  const w = Float32Array.from({ length: rows * cols }, () => roundBf16((next() - 0.5) * 0.05));
  const x = Float32Array.from({ length: tokens * cols }, (_, i) => (next() - 0.5) * (1 + ((i % cols) % 7)));
  const h = new Float64Array(cols * cols);
  hessianAccumulate(h, cols, x, tokens);
  const fn = factorHessian(h, cols, { damp: 0.01, actOrder: true }, native);
  const fj = factorHessian(h, cols, { damp: 0.01, actOrder: true }, jsFactorizer);
  for (const [bits, gs] of [[2, 32], [3, 32]] as const) {
    const where = `${bits}-bit g${gs} (seed ${seed})`;
    const l = gptqQuantize(w, rows, cols, fn.damped, fn.u, fn.perm, bits, gs, 'bf16', 2, 12);
    const js = gptqRows(w, rows, cols, fj, { bits, groupSize: gs, dtype: 'BF16', store: roundBf16 });
    const opts = { bits, groupSize: gs, store: roundBf16 };
    refitRows(w, rows, cols, js, fj.damped, opts, 2);
    const start = hessianObjective(w, rows, cols, js, gs, fj.damped);
    learnedRows(w, rows, cols, js, fj.damped, { ...opts, iters: 12 });
    assert.equal(Array.from(l.codes), Array.from(js.codes), `codes, ${where}`);
    assert.equal(Array.from(l.scales), Array.from(js.scales), `scales, ${where}`);
    assert.equal(Array.from(l.biases), Array.from(js.biases), `biases, ${where}`);
    const end = nativeObjective(w, rows, cols, l.codes, l.scales, l.biases, gs, fn.damped);
    assert.is(end, hessianObjective(w, rows, cols, js, gs, fj.damped), `objective, ${where}`);
    assert.ok(end <= start, `learned ${end} above its refitted GPTQ start ${start}, ${where}`);
  }
  // The objective and the factor at a width no tile divides (50 columns, groups of 5).
  const n = 50;
  const q = { codes: Uint8Array.from({ length: rows * n }, () => Math.floor(next() * 8)), scales: Float32Array.from({ length: rows * 10 }, () => next() * 0.01), biases: Float32Array.from({ length: rows * 10 }, () => next() - 0.5) };
  const h50 = new Float64Array(n * n);
  hessianAccumulate(h50, n, x.subarray(0, tokens * n), tokens);
  const w50 = w.subarray(0, rows * n);
  assert.is(nativeObjective(w50, rows, n, q.codes, q.scales, q.biases, 5, h50), hessianObjective(w50, rows, n, { ...q }, 5, h50), 'objective at n = 50');
  const f50 = (fz: typeof native) => factorHessian(h50, n, { damp: 0.01, actOrder: true }, fz).u;
  assert.equal(Array.from(f50(native)), Array.from(f50(jsFactorizer)), 'factor at n = 50 (padded to 64)');
});

test('a Hessian that is not positive definite is refused by the factorization (null), not turned into NaN', () => {
  const n = 64;
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) d[i * n + j] = 1;
  assert.is(gptqFactor(d, n, Int32Array.from({ length: n }, (_, j) => j)), null);
  const f = factorHessian(new Float64Array(n * n), n, { damp: 0.01, actOrder: false }, native);
  assert.is(f.deadColumns, n);
  assert.ok(f.u.every(Number.isFinite));
});

test('bad arguments are errors naming the argument', () => {
  const h = new Float64Array(64 * 64);
  assert.throws(() => hessianAccumulate(h, 64, new Float32Array(10), 1), /hessianAccumulate: x/);
  assert.throws(() => hessianAccumulate(h, 64, new Float32Array(64), 1, Int32Array.of(1)), /rows\[0\] = 1 is outside/);
  assert.throws(() => gptqFactor(h, 64, Int32Array.of(0)), /gptqFactor: perm/);
  const perm = Int32Array.from({ length: 64 }, (_, j) => j);
  assert.throws(() => gptqQuantize(new Float32Array(64), 1, 64, h, h, perm, 7, 64, 'bf16', 0, 0), /bits must be 2, 3, 4, 5, 6 or 8/);
  assert.throws(() => gptqQuantize(new Float32Array(64), 1, 64, h, h, perm, 4, 48, 'bf16', 0, 0), /groupSize 32, 64 or 128/);
  assert.throws(() => gptqQuantize(new Float32Array(64), 1, 64, h, h, perm, 4, 64, 'f8' as 'bf16', 0, 0), /dtype must be/);
});

test.run();

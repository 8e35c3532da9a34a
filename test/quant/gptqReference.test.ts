// GPTQ against the float64 oracle written from the paper (tools/gptq_reference.py, fixture
// test/fixtures/gptq/reference.json): every width, every group size, activation order on and
// off, and Hessians left singular by dead input columns.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { roundBf16 } from '../../lib/io/dtype.js';
import { factorHessian, gptqRows, plainFitter } from '../../lib/quant/gptq.js';
import { hessianObjective } from '../../lib/quant/learned.js';
import { caseInputs, gram, referenceCases } from './gptqFixtures.js';

for (const c of referenceCases()) {
  const name = `${c.bits}-bit g${c.groupSize}${c.actOrder ? ' act-order' : ''}${c.dead.length ? `, ${c.dead.length} dead columns` : ''}`;
  test(`JavaScript GPTQ equals the float64 reference: ${name}`, () => {
    const { w, x } = caseInputs(c.seed, c.rows, c.cols, c.tokens, c.dead);
    const h = gram(x, c.tokens, c.cols);
    const f = factorHessian(h, c.cols, { damp: c.damp, actOrder: c.actOrder });
    assert.is(f.deadColumns, c.dead.length);
    const q = gptqRows(w, c.rows, c.cols, f, { bits: c.bits, groupSize: c.groupSize, dtype: 'BF16', store: roundBf16 });
    assert.equal(Array.from(q.codes), c.codes, 'codes');
    assert.equal(Array.from(q.scales), c.scales, 'scales');
    assert.equal(Array.from(q.biases), c.biases, 'biases');
    const obj = hessianObjective(w, c.rows, c.cols, q, c.groupSize, h);
    assert.ok(Math.abs(obj - c.objective) <= 1e-9 * c.objective, `objective ${obj} vs ${c.objective}`);
  });
}

test('the diag-H-weighted group fit gives GPTQ a lower objective than the unweighted mse fit, on every reference case', () => {
  for (const c of referenceCases()) {
    const { w, x } = caseInputs(c.seed, c.rows, c.cols, c.tokens, c.dead);
    const h = gram(x, c.tokens, c.cols);
    const f = factorHessian(h, c.cols, { damp: c.damp, actOrder: c.actOrder });
    const opts = { bits: c.bits, groupSize: c.groupSize, dtype: 'BF16' as const, store: roundBf16 };
    const weighted = hessianObjective(w, c.rows, c.cols, gptqRows(w, c.rows, c.cols, f, opts), c.groupSize, h);
    const plain = hessianObjective(w, c.rows, c.cols, gptqRows(w, c.rows, c.cols, f, { ...opts, fit: plainFitter(roundBf16) }), c.groupSize, h);
    assert.ok(weighted < plain, `${c.bits}-bit g${c.groupSize}: weighted ${weighted} vs plain ${plain}`);
  }
});

test.run();

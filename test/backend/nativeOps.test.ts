// The native backend's ops against the float64 references of opsSuite.ts, on the fastest
// kernel set of this CPU and again on the scalar one. The suite runs with 16-bit
// activations (residual step d/256, so products land within ~1e-5 of the exact value and
// the suite's bound of 5e-4 relative is a margin, not a fit); the int8 default is held
// to its a-priori bound below.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { setIsa, supportedIsas } from '../../lib/backend/native/addon.js';
import { isMappedWeight, NativeOps } from '../../lib/backend/native/ops.js';
import { SUPPORTED_BITS } from '../../lib/quant/affine.js';
import { normal, rng, runSeed } from '../helpers.js';
import { opsSuite, QuantizedWeights, type OpsSuiteOptions } from './opsSuite.js';

const seed = runSeed();
console.log(`nativeOps seed ${seed} (MLXK_SEED=${seed} reproduces); kernel sets ${supportedIsas().join(', ')}`);
const next = rng(seed);
// Rows 1–4 take the GEMV kernels, more the GEMM ones; 11 MoE tokens give some expert > 4 pairs.
const options: OpsSuiteOptions = { quantizedRel: 5e-4, linearRows: [1, 3, 5, 33], moeTokens: 11 };
const ops16 = new NativeOps({ activationBits: 16 });

opsSuite(test, ops16, options, next);

test('int8 activations (the default): every output within the a-priori bound Σ|s·q|·d/2 of the exact product', () => {
  const ops = new NativeOps({ activationBits: 8 });
  const qw = new QuantizedWeights(ops, next);
  for (const bits of SUPPORTED_BITS) {
    for (const gs of [32, 128]) {
      const [n, k] = [7, 2 * gs];
      const { w, deq, absScaled } = qw.make([], n, k, bits, gs);
      for (const m of [1, 6]) {
        const x = normal(m * k, 1, next);
        const got = ops.read(ops.linear(ops.constant(x, [m, k]), w));
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
          let exact = 0;
          let bound = 0;
          let abs = 0;
          for (let c = 0; c < k; c++) {
            const block = Math.floor(c / 32) * 32;
            let amax = 0;
            for (let b = block; b < block + 32; b++) amax = Math.max(amax, Math.abs(x[i * k + b]!));
            exact += x[i * k + c]! * deq[j * k + c]!;
            bound += absScaled[j * k + c]! * (amax / 127 / 2);
            abs += Math.abs(x[i * k + c]! * deq[j * k + c]!);
          }
          // plus float32 rounding of the sums (generous: 4k roundings of the absolute terms)
          const tol = bound * (1 + 2 ** -20) + 4 * k * 2 ** -24 * (abs + bound);
          const err = Math.abs(got[i * n + j]! - exact);
          assert.ok(err <= tol, `${bits}-bit gs ${gs} row ${i} out ${j}: |Δ| ${err} > bound ${tol}`);
        }
      }
    }
  }
});

test('weights loaded from a file are used in place from the memory map; constants are host copies', () => {
  const qw = new QuantizedWeights(ops16, next);
  const { w } = qw.make([], 4, 64, 4, 32);
  assert.ok(isMappedWeight(w), 'a quantized weight read from a safetensors file points into the mapped file');
  assert.not.ok(isMappedWeight(ops16.dense(ops16.constant(new Float32Array(8), [2, 4]))));
});

test('activationBits other than 8 and 16 are refused', () => {
  assert.throws(() => new NativeOps({ activationBits: 4 as 8 }), /activationBits must be 8 or 16, got 4/);
});

const scalarSuite = suite('scalar kernel set');
scalarSuite.before(() => setIsa('scalar'));
scalarSuite.after(() => setIsa('auto'));
opsSuite(scalarSuite, ops16, options, next);

test.run();
scalarSuite.run();

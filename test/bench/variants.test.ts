import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxkError } from '../../lib/io/errors.js';
import { parseVariants } from '../../lib/bench/variants.js';
import { uniformPreset } from '../../lib/quant/preset.js';

test('bpwB items ask the allocation for B bits per weight with their quantizer (mse by default); presets keep their modifiers', () => {
  const calls: [number, string][] = [];
  const v = parseVariants('q4:mse:g32,bpw3.11,bpw2.66:rtn', (bpw, method) => {
    calls.push([bpw, method]);
    return uniformPreset(3, 64, method);
  });
  assert.equal(calls, [[3.11, 'mse'], [2.66, 'rtn']]);
  assert.equal(v.map((x) => x.name), ['q4:mse:g32', 'bpw3.11', 'bpw2.66:rtn']);
  assert.is(v[1]!.preset.name, 'bpw3.11');
  assert.equal(v[0]!.preset.default, { bits: 4, groupSize: 32, method: 'mse' });
});

test('bpwB without a sensitivity table, or with a group size, is a one-line error', () => {
  assert.throws(() => parseVariants('bpw3'), (e: unknown) => e instanceof MlxkError && /--sensitivity/.test((e as Error).message));
  assert.throws(() => parseVariants('bpw3:g64', () => uniformPreset(3, 64)), (e: unknown) => e instanceof MlxkError && /chooses group sizes/.test((e as Error).message));
});

test.run();

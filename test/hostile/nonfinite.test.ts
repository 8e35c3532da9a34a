// NaN/Inf weights (issue 15): inspect lists them, quantize refuses them by name unless
// --allow-nonfinite, and then its --json report gives the tensor's error as null, never 0.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tmpDir } from '../helpers.js';
import { mlxk, mutant, patchTensor } from './mutants.js';

// bf16 quiet NaN (0x7FC0) little-endian; and +Inf (0x7F80) in one value of another tensor.
const nanModel = mutant((d) => patchTensor(d, 'lm_head.weight', Uint8Array.from([0xc0, 0x7f])));

test('inspect reports every tensor holding NaN/Inf with its count', async () => {
  const r = await mlxk(['inspect', nanModel, '--json']);
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { nonfinite: Array<{ tensor: string; count: number }> };
  assert.equal(info.nonfinite, [{ tensor: 'lm_head.weight', count: 4128 * 256 }]);
  const text = await mlxk(['inspect', nanModel]);
  assert.match(text.stdout, /NaN\/Inf values in 1 tensor\(s\): lm_head\.weight \(1056768\)/);
});

test('quantize refuses NaN/Inf in one line (exit 2); --allow-nonfinite reports the error as null', async () => {
  const out = join(tmpDir(), 'q4');
  const r = await mlxk(['quantize', nanModel, out, '--bits', '4', '--quiet']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr.trim(), /^mlxk: .*model\.safetensors: tensor "lm_head\.weight" has \d+ NaN\/Inf values in rows 0\.\.\d+ \(first at row 0, column 0\); quantizing them writes garbage \(--allow-nonfinite to quantize anyway\)$/);
  const ok = await mlxk(['quantize', nanModel, `${out}-2`, '--bits', '4', '--quiet', '--json', '--allow-nonfinite']);
  assert.is(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout) as { tensors: Array<{ name: string; relRmsError: number | null }> };
  const head = report.tensors.find((t) => t.name === 'lm_head.weight')!;
  assert.is(head.relRmsError, null);
  assert.ok(report.tensors.filter((t) => t.name !== 'lm_head.weight' && t.relRmsError !== null).every((t) => t.relRmsError! > 0));
});

test.run();

// eval-quants with calibrated quantizers (`q3:gptq`, `bpwB:gptq`, --calib): each such row is the
// checkpoint `mlxk quantize --method gptq` writes with the same calibration flags (the same
// bytes, so its scores are GPTQ's and not a silent mse fallback), and a calibrated row without
// --calib, or --calib without one, is a one-line error.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MLXK, REPO, tmpDir, TINY_KIMI } from '../helpers.js';

const EVAL = join(TINY_KIMI, 'eval-A.txt');
const CALIB = join(REPO, 'test', 'fixtures', 'calib', 'gptq-calib.txt');
const CALIB_FLAGS = ['--calib', CALIB, '--calib-tokens', '512', '--calib-seq', '128'];

function mlxk(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MLXK, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('a q3:gptq row is the checkpoint quantize --method gptq writes with the same calibration', () => {
  const dir = tmpDir();
  const r = mlxk('eval-quants', TINY_KIMI, '--presets', 'q3:mse,q3:gptq', ...CALIB_FLAGS, '--data', EVAL, '--seq-len', '128', '--max-windows', '1', '--decode-tokens', '2', '-r', '1', '--out-dir', join(dir, 'models'), '--json', '-q');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.rows.map((x: { name: string }) => x.name), ['q3:mse', 'q3:gptq']);
  assert.ok(j.notes.some((n: string) => /^q3:gptq: calibration: 512 tokens in sequences of 128 from gptq-calib\.txt/.test(n)), j.notes.join('\n'));
  const q = mlxk('quantize', TINY_KIMI, join(dir, 'direct'), '--bits', '3', '--method', 'gptq', ...CALIB_FLAGS, '-q');
  assert.is(q.code, 0, q.stderr);
  const viaEval = readFileSync(join(dir, 'models', 'q3-gptq', 'model.safetensors'));
  assert.ok(viaEval.equals(readFileSync(join(dir, 'direct', 'model.safetensors'))), 'eval-quants and quantize wrote different q3 gptq weights');
  assert.not.ok(viaEval.equals(readFileSync(join(dir, 'models', 'q3-mse', 'model.safetensors'))), 'the gptq row holds the mse weights');
  assert.match(readFileSync(join(dir, 'models', 'q3-gptq', 'README.md'), 'utf8'), /GPTQ damping 0\.01/);
});

test('calibrated rows need --calib, and --calib needs a calibrated row', () => {
  const noCalib = mlxk('eval-quants', TINY_KIMI, '--presets', 'q4:mse,q3:gptq', '--data', EVAL);
  assert.is(noCalib.code, 1);
  assert.match(noCalib.stderr, /--presets q3:gptq: gptq \/ learned quantize against calibration inputs: pass --calib FILE or --calib default/);
  const unused = mlxk('eval-quants', TINY_KIMI, '--presets', 'q4:mse', '--calib', 'default', '--data', EVAL);
  assert.is(unused.code, 1);
  assert.match(unused.stderr, /--calib is only used by presets with :gptq or :learned/);
  for (const r of [noCalib, unused]) assert.not.match(r.stderr, /\n\s+at /);
});

test.run();

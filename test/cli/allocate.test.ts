import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MLXK, REPO, tmpDir } from '../helpers.js';

function mlxk(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MLXK, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SENS = 'benchmarks/results/sensitivity-tiny-kimi.json';

test('quantize --target-bpw: meets the target, writes the recipe beside the model, and the recipe reproduces it byte for byte', () => {
  const out = join(tmpDir(), 'alloc-3.2');
  const r = mlxk('quantize', 'models/tiny-kimi', out, '--target-bpw', '3.2', '--sensitivity', SENS, '--json', '-q');
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.ok(report.bitsPerWeight <= 3.2 && report.bitsPerWeight > 2.9, String(report.bitsPerWeight));
  assert.ok(existsSync(join(out, 'mlxk-recipe.json')) && existsSync(join(out, 'mlxk-sensitivity.json')));
  const card = readFileSync(join(out, 'README.md'), 'utf8');
  assert.match(card, /--target-bpw 3\.2/);
  assert.match(card, /mlxk-recipe\.json/);
  const again = join(tmpDir(), 'alloc-3.2-again');
  const r2 = mlxk('quantize', 'models/tiny-kimi', again, '--preset', join(out, 'mlxk-recipe.json'), '-q');
  assert.is(r2.code, 0, r2.stderr);
  for (const f of readdirSync(out).filter((x) => x.endsWith('.safetensors') || x === 'config.json')) assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(again, f))), `${f} differs`);
  // plan --modules with the recipe names each module's unit and estimated loss.
  const p = mlxk('plan', out, '--target-bpw', '3.2', '--sensitivity', SENS, '--modules');
  assert.is(p.code, 0, p.stderr);
  assert.match(p.stdout, /switch_mlp\.gate_proj\s+\d-bit g\d+ mse\s+allocated: unit model\.layers\.1\.mlp\.switch_mlp\.gate_proj, est\. loss/);
});

test('a target below the smallest reachable size is one line naming that size', () => {
  const never = join(tmpDir(), 'never');
  for (const args of [['quantize', 'models/tiny-kimi', never, '--target-bpw', '1.5', '--sensitivity', SENS], ['plan', 'kimi-k2.5', '--size', '250GB']]) {
    const r = mlxk(...args);
    assert.is(r.code, 1);
    assert.match(r.stderr.split('\n')[0]!, /below the smallest this model reaches: [\d.]+ GB, [\d.]+ bits per weight/);
    assert.not.match(r.stderr, /at .*\.js:/);
  }
  assert.not.ok(existsSync(never), 'nothing written');
});

test('plan --best-fit: the least-loss recipe that fits the memory with its context, from config.json alone', () => {
  const r = mlxk('plan', 'kimi-k2.5', '--best-fit', '--memory', '512GiB', '--context', '131072', '--json');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.memory.fits);
  assert.ok(j.memory.needed_bytes > 0.99 * j.memory.total_bytes, `${j.memory.needed_bytes} of ${j.memory.total_bytes}: memory left unused`);
  const small = JSON.parse(mlxk('plan', 'kimi-k2.5', '--best-fit', '--memory', '384GiB', '--json').stdout);
  assert.ok(small.bits_per_weight < j.bits_per_weight && small.memory.fits);
});

test.run();

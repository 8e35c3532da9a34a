import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainLoadFailure } from '../../lib/backend/mlx/load.js';
import { DONE_FILE } from '../../lib/quant/finished.js';
import { MLXK, REPO, tmpDir, TINY_KIMI } from '../helpers.js';

function mlxk(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MLXK, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('the README command reproduces the bundled quantized model byte for byte', () => {
  const out = join(tmpDir(), 'tiny-kimi-mixed_3_6');
  const r = mlxk('quantize', 'models/tiny-kimi', out, '--preset', 'mixed_3_6', '--json');
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.is(report.preset, 'mixed_3_6');
  assert.ok(report.tensors.every((t: { relRmsError: number | null }) => t.relRmsError === null || t.relRmsError < 0.25));
  const bundled = join(REPO, 'models', 'tiny-kimi-mixed_3_6');
  // The completion record (absolute paths, a time) is the one file that is not the model.
  assert.equal(readdirSync(out).filter((f) => f !== DONE_FILE).sort(), readdirSync(bundled).sort());
  for (const f of readdirSync(bundled)) assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(bundled, f))), `${f} differs from the committed one`);
});

test('plan by name: the 2.5-bit Kimi-K2.5 preset is about 350 GB and fits 512 GB', () => {
  const r = mlxk('plan', 'kimi-k2.5', '--preset', 'kimi-k2.5-2.5bit', '--json');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.bytes > 340e9 && j.bytes < 360e9, String(j.bytes));
  assert.ok(j.memory.fits);
  const text = mlxk('plan', 'kimi-k2.5', '--preset', 'kimi-k2.5-3.5bit', '--memory', '512GiB');
  assert.match(text.stdout, /FITS/);
  assert.match(text.stdout, /sudo sysctl iogpu\.wired_limit_mb=499712/);
  assert.match(mlxk('plan', 'kimi-k2.5', '--bits', '8').stdout, /DOES NOT FIT/);
});

test('inspect reports architecture, roles and bits of the bundled models', () => {
  const q = JSON.parse(mlxk('inspect', 'models/tiny-kimi-mixed_3_6', '--json').stdout);
  assert.is(q.architecture, 'deepseek_v3');
  assert.is(q.roles.expert.stored_as['3-bit g64'] > 0, true);
  assert.is(q.roles.lm_head.stored_as['6-bit g64'], 4128 * 256);
  assert.equal(q.missing_tensors, []);
  const b = JSON.parse(mlxk('inspect', TINY_KIMI, '--json').stdout);
  assert.equal(Object.keys(b.roles.attn.stored_as), ['BF16']);
});

test('bad input: one-line errors naming the file or flag, exit 2 for broken model files and 1 for usage, no stack trace', () => {
  const dir = tmpDir();
  mkdirSync(join(dir, 'broken'));
  copyFileSync(join(TINY_KIMI, 'config.json'), join(dir, 'broken', 'config.json'));
  const full = readFileSync(join(TINY_KIMI, 'model.safetensors'));
  writeFileSync(join(dir, 'broken', 'model.safetensors'), full.subarray(0, 1_000_000));
  const cases: [string[], RegExp][] = [
    [['inspect', join(dir, 'broken')], /model\.safetensors: tensor ".*": data ends at byte \d+ .*truncated/],
    [['quantize', 'models/tiny-kimi', join(dir, 'o')], /say how to quantize: --preset NAME or --bits N/],
    [['quantize', 'models/tiny-kimi', join(dir, 'o'), '--preset', 'nope'], /preset "nope" is neither a built-in preset nor a file/],
    [['quantize', 'models/tiny-kimi', join(dir, 'o'), '--bits', '7'], /bits 7 is not supported/],
    [['plan', 'no-such-model', '--bits', '4'], /no-such-model: no such directory/],
    [['plan', 'kimi-k2.5', '--bits', '4', '--memory', 'lots'], /--memory: "lots" is not a size/],
    [['plan', 'kimi-k2.5', '--bits', '4', '--custom-q', '(bad=q4_K'], /--custom-q '\(bad=q4_K' item 1 .*invalid regular expression/],
    [['synth', 'gpt2', join(dir, 's')], /gpt2/],
  ];
  for (const [args, re] of cases) {
    const r = mlxk(...args);
    assert.is(r.code, args[0] === 'inspect' ? 2 : 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.not.match(r.stderr, /\n\s+at /, `${args.join(' ')} printed a stack trace`);
  }
});

test('--help explains every verb', () => {
  for (const verb of ['plan', 'quantize', 'inspect', 'synth']) {
    const r = mlxk(verb, '--help');
    assert.is(r.code, 0);
    assert.match(r.stdout, new RegExp(`Usage: mlxk ${verb}`));
  }
});

test('a missing BLAS/LAPACK library is explained with the packages to install', () => {
  const e = explainLoadFailure('liblapack.so.3: cannot open shared object file: No such file or directory');
  assert.ok(e);
  assert.match(e!.message, /liblapack\.so\.3 is missing/);
  assert.match(e!.hint!, /apt-get install liblapack3 libopenblas0-pthread/);
  assert.is(explainLoadFailure('something unrelated'), null);
});

test.run();

// The block-by-block GPTQ pass end to end through `mlxk quantize`: a run killed (SIGKILL)
// after a block boundary and resumed ends with files byte-identical to an uninterrupted
// run; the per-tensor report never shows an output error above round-to-nearest's or the
// MSE fit's; the checkpoint holds no NaN and loads; shrinkage falls back to the shared
// Hessian for an expert that saw no token.
import { DONE_FILE, type DoneRecord } from '../../lib/quant/finished.js';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Hessian, shrinkHessian } from '../../lib/calib/hessian.js';
import { CALIB_DIR } from '../../lib/calib/sequential.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { readFloatTensor } from '../../lib/quant/source.js';
import { MLXK, REPO, TINY_KIMI, tmpDir } from '../helpers.js';

const CALIB = join(REPO, 'test', 'fixtures', 'calib', 'gptq-calib.txt');
const ARGS = ['--bits', '3', '--method', 'learned', '--iters', '2', '--calib', CALIB, '--calib-tokens', '512', '--calib-seq', '128', '-q'];

function quantize(dst: string, extra: string[] = []): string {
  return execFileSync(process.execPath, [MLXK, 'quantize', TINY_KIMI, dst, ...ARGS, ...extra], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function files(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

test('a GPTQ run killed after a block boundary resumes to byte-identical files', async () => {
  const whole = tmpDir();
  const report = JSON.parse(quantize(whole, ['--json'])) as { tensors: { name: string; calibration?: { outputError: number; rtnOutputError: number; mseOutputError: number; kept: Record<string, number> } }[] };
  const calibrated = report.tensors.filter((t) => t.calibration);
  assert.ok(calibrated.length >= 30, `${calibrated.length} calibrated tensors`);
  for (const t of calibrated) {
    const c = t.calibration!;
    assert.ok(Number.isFinite(c.outputError), t.name);
    assert.ok(c.outputError <= c.rtnOutputError && c.outputError <= c.mseOutputError, `${t.name}: ${c.outputError} vs rtn ${c.rtnOutputError}, mse ${c.mseOutputError}`);
  }
  // GPTQ / learned must win on the bulk of the matrices, not merely tie by the guard.
  const won = calibrated.reduce((a, t) => a + (t.calibration!.kept.learned ?? 0), 0);
  const all = calibrated.reduce((a, t) => a + Object.values(t.calibration!.kept).reduce((x, y) => x + y, 0), 0);
  assert.ok(won > 0.8 * all, `learned rounding kept for ${won} of ${all} slices`);

  const killed = tmpDir();
  const child: ChildProcess = spawn(process.execPath, [MLXK, 'quantize', TINY_KIMI, killed, ...ARGS], { stdio: 'ignore' });
  const statePath = join(killed, CALIB_DIR, 'state.json');
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        if (existsSync(statePath) && (JSON.parse(readFileSync(statePath, 'utf8')) as { nextBlock: number }).nextBlock >= 2) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      } catch {
        // caught mid-rename; look again
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the run finished before it could be killed'));
    });
  });
  await new Promise((r) => child.on('exit', r));
  assert.not.ok(existsSync(join(killed, 'config.json')), 'killed before the end');
  quantize(killed);
  assert.not.ok(existsSync(join(killed, CALIB_DIR)), 'work folder removed at the end');
  const a = files(whole);
  const b = files(killed);
  assert.equal([...b.keys()], [...a.keys()]);
  for (const [name, bytes] of a) {
    // The completion record also holds each run's own timings; what it certifies must match.
    if (name === DONE_FILE) {
      const [x, y] = [bytes, b.get(name)!].map((d) => JSON.parse(d.toString('utf8')) as DoneRecord<unknown>);
      assert.equal([y!.planHash, y!.settings], [x!.planHash, x!.settings], `${name}: plan and settings after the resume`);
      continue;
    }
    assert.ok(bytes.equals(b.get(name)!), `${name} differs after the resume`);
  }

  const ckpt = Checkpoint.open(whole);
  try {
    for (const name of ckpt.tensors.keys()) {
      if (!name.endsWith('.scales') && !name.endsWith('.biases')) continue;
      assert.ok(readFloatTensor(ckpt, name).every(Number.isFinite), `${name} holds NaN or infinity`);
    }
  } finally {
    ckpt.close();
  }
});

test('an expert no token reached gets the shared Hessian; one with many tokens mostly its own', () => {
  const n = 4;
  const shared = new Hessian(n);
  shared.add(Float32Array.from({ length: 8 * n }, (_, i) => (i % 5) - 2), 8);
  const none = shrinkHessian(new Hessian(n), shared);
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(none[i]! - shared.h[i]! / shared.tokens) < 1e-12);
  const busy = new Hessian(n);
  const x = Float32Array.from({ length: 400 * n }, (_, i) => (i % 3 === 0 ? 1 : 0));
  busy.add(x, 400);
  const mixed = shrinkHessian(busy, shared);
  // κ = n = 4 prior tokens against 400 own: within 1% of the expert's own mean.
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(mixed[i]! - busy.h[i]! / 400) <= 0.01 * Math.max(1e-9, Math.abs(busy.h[i]! / 400)) + 0.01 * Math.abs(shared.h[i]! / shared.tokens));
});

test('bad calibration settings are one-line errors naming the flag', () => {
  const dst = tmpDir();
  const run = (args: string[]) => {
    try {
      execFileSync(process.execPath, [MLXK, 'quantize', TINY_KIMI, dst, '--bits', '3', ...args], { encoding: 'utf8', stdio: 'pipe' });
      return '';
    } catch (e) {
      return String((e as { stderr: string }).stderr);
    }
  };
  assert.match(run(['--method', 'gptq']), /pass --calib FILE/);
  assert.match(run(['--method', 'gptq', '--calib', '/nonexistent.txt']), /--calib \/nonexistent.txt: no such file/);
  assert.match(run(['--method', 'mse', '--calib', CALIB]), /--calib is only used by --method gptq or learned/);
  assert.match(run(['--method', 'gptq', '--calib', CALIB, '--calib-seq', '4']), /--calib-seq 4: expected 16…8192/);
  assert.match(run(['--method', 'gptq', '--calib', CALIB, '--damp', '-1']), /--damp -1: expected a positive number/);
});

test.run();

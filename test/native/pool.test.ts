// The kernels' thread pool by itself (tools/pool-check.cc against native/src/threadpool.cc, built
// here with the system's g++ as node-gyp builds the addon): every task of thousands of jobs runs
// exactly once while some tasks stall, and a caller waiting on a stalled worker's task blocks
// instead of spinning, and is woken when it ends (a lost wake-up hangs: the timeout fails it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO } from '../helpers.js';

test('the thread pool runs every task once and blocks, not spins, for a stalled worker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlxk-pool-'));
  try {
    const exe = join(dir, 'pool-check');
    const build = spawnSync('g++', ['-std=c++17', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-Inative/src', 'tools/pool-check.cc', 'native/src/threadpool.cc', '-o', exe], { cwd: REPO, encoding: 'utf8' });
    assert.is(build.status, 0, `g++ failed:\n${build.stderr}`);
    const run = spawnSync(exe, { encoding: 'utf8', timeout: 60_000 });
    assert.is(run.signal, null, `pool-check was killed (${run.signal}): a caller waiting for a job that never ends\n${run.stdout}`);
    assert.is(run.status, 0, run.stdout);
    assert.match(run.stdout, /^pool check: all passed$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

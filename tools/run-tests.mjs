#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own process,
// two at a time, and ends with the line CI reads: "N passed, N failed".
// uvu prints per-file totals only, so they are summed here.
// Usage: node tools/run-tests.mjs [substring...]   (only files whose path matches)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const perFileTimeoutMs = Number(process.env.MLXK_TEST_TIMEOUT_MS ?? 15 * 60 * 1000);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = walk(testDir)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(testDir, f).includes(s)))
  .sort();

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n[run-tests] killed after ${perFileTimeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, perFileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const clean = out.replace(/\x1b\[[0-9;]*m/g, '');
      const total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      let failed = total - passed - skipped;
      // A crash before uvu's summary, or a non-zero exit with no failed test, counts as one failure.
      if (Number.isNaN(total) || (code !== 0 && failed === 0)) failed = Math.max(1, Number.isNaN(failed) ? 1 : failed);
      resolve({
        file: relative(root, file),
        passed: Number.isNaN(passed) ? 0 : passed,
        failed,
        seconds: (Date.now() - started) / 1000,
        output: clean,
      });
    });
  });
}

const workers = Math.max(1, Math.min(2, availableParallelism()));
const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const r = await runFile(file);
    results.push(r);
    const mark = r.failed ? 'FAIL' : 'ok  ';
    console.log(`${mark} ${r.file}  (${r.passed} passed, ${r.failed} failed, ${r.seconds.toFixed(1)}s)`);
    if (r.failed) console.log(r.output.trimEnd().split('\n').map((l) => `     ${l}`).join('\n'));
    // A file that ran no test says why on its first line (e.g. a tool it needs is not installed).
    else if (r.passed === 0) console.log(`     ${r.output.trim().split('\n')[0]}`);
  }
}
await Promise.all(Array.from({ length: workers }, worker));

const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
if (files.length === 0) console.log('no test files matched');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);

// The measuring verbs end to end as child processes: JSON shapes, files written,
// consistency between verbs, one-line errors, and Ctrl-C (SIGINT sent to the child
// mid-run) keeping and printing the partial results.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultBackend } from '../../lib/backend/index.js';
import { MLXK, REPO, tmpDir, TINY_KIMI } from '../helpers.js';
import { findAll, parseXml } from './xml.js';

const EVAL = join(TINY_KIMI, 'eval-A.txt');

function mlxk(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MLXK, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts mlxk, sends SIGINT once `ready(stderr)` holds, and collects the outcome. */
function interrupted(args: string[], ready: (stderr: string) => boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [MLXK, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const poll = setInterval(() => {
      if (!sent && ready(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    }, 50);
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      if (!sent) reject(new Error(`finished before it was interrupted:\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

test('bench --json: trials, median within min–max, sizes beyond the context skipped, machine recorded', () => {
  const r = mlxk('bench', `tiny=${TINY_KIMI}`, '--prompt-sizes', '32,3000', '--gen-sizes', '8', '-r', '2', '--json', '-q');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.partial, false);
  assert.match(j.command, /^mlxk bench tiny=.* --prompt-sizes 32,3000 --gen-sizes 8 -r 2 --json -q$/);
  assert.is(j.machine.cores, cpus().length);
  assert.ok(j.machine.loadAverageStart.length === 3 && j.machine.loadAverageEnd.length === 3);
  const m = j.models[0];
  assert.equal([m.label, m.backend, m.maxContext], ['tiny', defaultBackend(), 2048]);
  const p32 = m.prompt[0];
  assert.is(p32.trials.length, 2);
  const s = p32.promptTokensPerSecond;
  assert.ok(s.min <= s.median && s.median <= s.max && s.min > 0);
  for (const t of p32.trials) assert.ok(Math.abs(t.promptTokensPerSecond - 32 / t.timeToFirstTokenSeconds) < 1e-6 * t.promptTokensPerSecond);
  assert.match(m.prompt[1].skipped, /exceed the context of 2048/);
  const g = m.generation[0].trials[0];
  assert.equal([g.promptTokens, g.generatedTokens], [64, 8]);
  assert.ok(g.peakMemoryBytes > 50e6, String(g.peakMemoryBytes));
});

test('Ctrl-C during bench keeps the finished trials: printed, written, exit 130', async () => {
  const out = join(tmpDir(), 'bench.md');
  const r = await interrupted(['bench', TINY_KIMI, '--prompt-sizes', '256', '--gen-sizes', '256', '-r', '40', '-o', out, '-q'], () => {
    if (!existsSync(out.replace(/\.md$/, '.json'))) return false;
    try {
      return JSON.parse(readFileSync(out.replace(/\.md$/, '.json'), 'utf8')).models[0].prompt[0].trials.length >= 2;
    } catch {
      return false;
    }
  });
  assert.is(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted; finishing the current step/);
  assert.match(r.stdout, /Partial results/);
  assert.match(r.stdout, /\| 256 \| \d+\.\d \(\d+\.\d–\d+\.\d\) \|/);
  const j = JSON.parse(readFileSync(out.replace(/\.md$/, '.json'), 'utf8'));
  assert.is(j.partial, true);
  const n = j.models[0].prompt[0].trials.length + (j.models[0].generation[0]?.trials.length ?? 0);
  assert.ok(n >= 2 && n < 80, String(n));
  assert.match(readFileSync(out, 'utf8'), /Partial results/);
  parseXml(readFileSync(out.replace(/\.md$/, '.svg'), 'utf8'));
});

test('Ctrl-C during perplexity prints the windows done as a partial result', async () => {
  const r = await interrupted(['perplexity', TINY_KIMI, '--data', EVAL, '--max-windows', '40', '--json'], (err) => /[4-9]\/40 windows/.test(err));
  assert.is(r.code, 130, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.result.partial, true);
  assert.ok(j.result.windows >= 4 && j.result.windows < 40, String(j.result.windows));
  assert.is(j.result.scoredTokens, j.result.windows * 511);
  assert.ok(j.result.models[0].ppl > 10 && j.result.models[0].ppl < 60);
});

test('eval-quants: sizes, quality ordered by bits, and the numbers perplexity gives for the same models', () => {
  const dir = tmpDir();
  const out = join(dir, 'report.md');
  const r = mlxk('eval-quants', TINY_KIMI, '--presets', 'q8,q4:mse', '--data', EVAL, '--seq-len', '256', '--max-windows', '2', '--decode-tokens', '4', '-r', '1', '--out-dir', join(dir, 'models'), '-o', out, '--json', '-q');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.partial, false);
  const [q8, q4] = j.rows;
  assert.equal([q8.name, q4.name], ['q8', 'q4:mse']);
  assert.match(q4.description, /quantizer mse/);
  for (const row of j.rows) assert.ok(Math.abs(row.bitsPerWeight - (row.bytes * 8) / j.source.params) < 1e-9);
  assert.ok(q8.bitsPerWeight > 8 && q8.bitsPerWeight < 9 && q4.bitsPerWeight > 4 && q4.bitsPerWeight < 5);
  assert.ok(j.source.bitsPerWeight > 15.9 && j.source.bitsPerWeight < 16.1);
  assert.ok(q8.kl.mean < q4.kl.mean && q8.top1Agreement > q4.top1Agreement);
  assert.ok(q8.decodeTokensPerSecond.median > 0 && j.source.decodeTokensPerSecond.median > 0);
  // The same windows through `mlxk perplexity`, one model at a time.
  const single = (model: string, ...extra: string[]) => JSON.parse(mlxk('perplexity', model, '--data', EVAL, '--seq-len', '256', '--max-windows', '2', '--json', '-q', ...extra).stdout).result;
  assert.is(single(TINY_KIMI).models[0].ppl, j.source.perplexity.ppl);
  const alone = single(join(dir, 'models', 'q4-mse'), '--baseline', TINY_KIMI);
  assert.is(alone.models[0].ppl, q4.perplexity.ppl);
  assert.is(alone.models[0].kl.mean, q4.kl.mean);
  assert.ok(Math.abs(q4.deltaPplPercent - (q4.perplexity.ppl / j.source.perplexity.ppl - 1) * 100) < 1e-9);
  const md = readFileSync(out, 'utf8');
  assert.match(md, /\| q4:mse \| 4\.\d\d \| /);
  const svg = parseXml(readFileSync(join(dir, 'report.svg'), 'utf8'));
  assert.is(findAll(svg, 'circle').length, 4);
});

test('bad input: one-line errors naming the flag or value', () => {
  const cases: [string[], RegExp][] = [
    [['perplexity', TINY_KIMI], /--data FILE is required/],
    [['perplexity', TINY_KIMI, '--data', 'no-such.txt'], /--data no-such\.txt: no such file/],
    [['perplexity', TINY_KIMI, '--data', EVAL, '--seq-len', '1'], /--seq-len must be an integer ≥ 2, got 1/],
    [['perplexity', TINY_KIMI, '--data', EVAL, '--seq-len', '4096'], /--seq-len 4096 is longer than the model's context \(2048\)/],
    [['bench', TINY_KIMI, '--prompt-sizes', '1k'], /--prompt-sizes must be comma-separated positive integers/],
    [['bench', TINY_KIMI, '--backend', 'cuda'], /--backend must be one of mlx, native, got "cuda"/],
    [['eval-quants', TINY_KIMI, '--presets', 'q4:fast', '--data', EVAL], /"fast" in "q4:fast" is not a quantizer/],
    [['eval-quants', TINY_KIMI, '--presets', 'q7', '--data', EVAL], /preset "q7" is neither a built-in preset nor a file/],
  ];
  for (const [args, re] of cases) {
    const r = mlxk(...args);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.not.match(r.stderr, /internal error|\n\s+at /);
  }
});

test.run();

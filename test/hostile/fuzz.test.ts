// Seeded fuzz of the four model-reading commands (issue 15): one-change mutants of the bundled
// model and of its quantized form (fuzzMutator.ts) through inspect and plan, and for every
// HEAVY-th mutant (and every must-refuse one) generate and quantize too. Fails on a stack trace,
// an error that is not one "mlxk: …" line, a signal, a hang, and on exit 0 from a command that
// reads the tensors of a shifted-data or duplicate-name mutant.
//   npm test: 300 mutants (seed 15).  Thousands:  MLXK_FUZZ_CASES=10000 [MLXK_FUZZ_SEED=N]
//   [MLXK_FUZZ_JOBS=2] [MLXK_FUZZ_REPORT=fuzz.json] node dist/test/hostile/fuzz.test.js
//   One mutant again: MLXK_FUZZ_ONLY=<case> (with the same seed).
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../lib/engine/sampler.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { randomMutation, type Mutation } from './fuzzMutator.js';
import { hasStackTrace, mlxk, mutant, type Run } from './mutants.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const CASES = env('MLXK_FUZZ_CASES', 300);
const SEED = env('MLXK_FUZZ_SEED', 15);
const HEAVY = env('MLXK_FUZZ_HEAVY_EVERY', 12);
const JOBS = env('MLXK_FUZZ_JOBS', 1);
const CROSS_CHECK = env('MLXK_FUZZ_CROSS_CHECK_EVERY', 25);
const ONLY = process.env.MLXK_FUZZ_ONLY ? Number(process.env.MLXK_FUZZ_ONLY) : null;
// A hang is minutes; the slowest honest run here (quantize under a loaded 2-core machine) is ~10 s.
const TIMEOUT_MS = { inspect: 30_000, plan: 30_000, generate: 60_000, quantize: 60_000 };
const WORKER = join(REPO, 'dist', 'test', 'hostile', 'fuzzWorker.js');
const QUANTIZED = join(REPO, 'models', 'tiny-kimi-mixed_3_6');
const PRESET = join(REPO, 'presets', 'mixed_3_6.json');

type Verb = keyof typeof TIMEOUT_MS;

/** One in-process mlxk (fuzzWorker.ts), restarted after a hang, a death or 150 commands. */
class Lane {
  private child: ChildProcess | null = null;
  private runs = 0;
  private pending: { id: number; resolve: (r: Run) => void; raw: string } | null = null;
  private nextId = 0;

  private start(): ChildProcess {
    const child = spawn(process.execPath, [WORKER], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    const raw = (d: Buffer) => this.pending && (this.pending.raw += d.toString());
    child.stdout!.on('data', raw);
    child.stderr!.on('data', raw);
    createInterface({ input: child.stdio[3] as Readable }).on('line', (line) => {
      const m = JSON.parse(line) as { id: number; code: number; stdout: string; stderr: string };
      const p = this.pending;
      if (!p || p.id !== m.id) return;
      this.pending = null;
      p.resolve({ code: m.code, signal: null, stdout: m.stdout, stderr: m.stderr + p.raw, timedOut: false });
    });
    child.on('exit', (code, signal) => {
      // A worker stopped on purpose (recycled, timed out) exits after its successor took over.
      if (this.child !== child) return;
      this.child = null;
      const p = this.pending;
      if (!p) return;
      this.pending = null;
      p.resolve({ code, signal, stdout: '', stderr: p.raw, timedOut: false });
    });
    child.stdin!.on('error', () => {});
    return child;
  }

  run(args: string[], timeoutMs: number): Promise<Run> {
    if (!this.child || this.runs >= 150) {
      this.stop();
      this.child = this.start();
      this.runs = 0;
    }
    this.runs++;
    const child = this.child;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.id !== id) return;
        this.pending = null;
        this.stop();
        resolve({ code: null, signal: null, stdout: '', stderr: '', timedOut: true });
      }, timeoutMs);
      this.pending = { id, raw: '', resolve: (r) => (clearTimeout(timer), resolve(r)) };
      child.stdin!.write(`${JSON.stringify({ id, args })}\n`);
    });
  }

  stop(): void {
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null) c.kill('SIGKILL');
  }
}

type Failure = 'stack trace' | 'not one line' | 'signal' | 'hang' | 'silent acceptance';

/** What is wrong with a run, or null: exit 0, or exit 1/2 with exactly one "mlxk: " line (plus hints and warnings). */
export function judge(r: Run, mustRefuse: boolean): Failure | null {
  if (r.timedOut) return 'hang';
  if (r.signal) return 'signal';
  if (hasStackTrace(r) || r.code === 70 || /mlxk: internal error/.test(r.stderr)) return 'stack trace';
  // A JavaScript error escaping without the one-line form, even when no frame is printed.
  if (/\b(TypeError|RangeError|ReferenceError|SyntaxError)\b/.test(r.stderr) && !/^mlxk: /m.test(r.stderr)) return 'stack trace';
  if (r.code === 0) return mustRefuse ? 'silent acceptance' : null;
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !/^(hint|warning): |MLXK_NATIVE_MISSING|^\(node:\d+\)|^\(Use `node --trace-warnings/.test(l));
  return (r.code === 1 || r.code === 2) && lines.length === 1 && lines[0]!.startsWith('mlxk: ') ? null : 'not one line';
}

interface Finding { case: number; desc: string; verb: Verb; failure: Failure; code: number | null; output: string }

async function fuzzCase(lane: Lane, i: number, counts: Record<string, number>, findings: Finding[]): Promise<void> {
  const r = seededRandom(SEED * 1_000_003 + i);
  const quantized = r() < 0.4;
  const src = quantized ? QUANTIZED : TINY_KIMI;
  let m: Mutation;
  try {
    m = randomMutation(r, src, quantized, PRESET);
  } catch (e) {
    throw new Error(`case ${i}: the mutator failed: ${(e as Error).stack}`);
  }
  const dir = mutant(m.apply, src);
  const preset = m.desc.startsWith('preset ');
  const presetArgs = preset ? ['--preset', join(dir, 'preset.json')] : ['--bits', '4'];
  const heavy = m.mustRefuse || i % HEAVY === 0;
  const verbs: Array<[Verb, string[]]> = [
    ['inspect', ['inspect', dir]],
    ['plan', ['plan', dir, ...presetArgs]],
    ...(heavy ? [['generate', ['generate', dir, '--prompt', 'hi', '-m', '2', '--temp', '0']], ['quantize', ['quantize', dir, `${dir}-out`, ...presetArgs, '--quiet']]] as Array<[Verb, string[]]> : []),
  ];
  counts.cases = (counts.cases ?? 0) + 1;
  if (m.mustRefuse) counts.mustRefuse = (counts.mustRefuse ?? 0) + 1;
  for (const [verb, args] of verbs) {
    const run = await lane.run(args, TIMEOUT_MS[verb]);
    // The in-process worker stands in for bin/mlxk; now and then the real one must agree with it.
    if (verb === 'inspect' && i % CROSS_CHECK === 0) {
      const real = await mlxk(args, TIMEOUT_MS[verb]);
      counts.crossChecked = (counts.crossChecked ?? 0) + 1;
      if (real.code !== run.code || judge(real, m.mustRefuse)) findings.push({ case: i, desc: m.desc, verb, failure: judge(real, m.mustRefuse) ?? 'not one line', code: real.code, output: `bin/mlxk exit ${real.code}, in-process ${run.code}: ${real.stderr.slice(0, 500)}` });
    }
    counts.runs = (counts.runs ?? 0) + 1;
    const key = `${verb} exit ${run.timedOut ? 'timeout' : run.signal ?? run.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
    // plan reads config.json and the preset, never tensor data: it may accept a shifted file.
    const failure = judge(run, m.mustRefuse && verb !== 'plan');
    if (failure) findings.push({ case: i, desc: `${quantized ? 'tiny-kimi-mixed_3_6' : 'tiny-kimi'} ${m.desc}`, verb, failure, code: run.code, output: (run.stderr || run.stdout).slice(0, 600) });
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(`${dir}-out`, { recursive: true, force: true });
}

test(`${ONLY !== null ? `case ${ONLY}` : `${CASES} mutants`} (seed ${SEED}): no stack trace, signal or hang; shifted data and duplicate names refused`, async () => {
  const started = Date.now();
  const counts: Record<string, number> = {};
  const findings: Finding[] = [];
  const ids = ONLY !== null ? [ONLY] : Array.from({ length: CASES }, (_, i) => i);
  const lanes = Array.from({ length: Math.max(1, JOBS) }, () => new Lane());
  let next = 0;
  const byFailure: Record<string, number> = {};
  const report = (done: boolean) => {
    for (const k of Object.keys(byFailure)) delete byFailure[k];
    for (const f of findings) byFailure[f.failure] = (byFailure[f.failure] ?? 0) + 1;
    const summary = { seed: SEED, cases: ids.length, done, seconds: (Date.now() - started) / 1000, counts, failures: byFailure, findings };
    if (process.env.MLXK_FUZZ_REPORT) writeFileSync(process.env.MLXK_FUZZ_REPORT, `${JSON.stringify(summary, null, 1)}\n`);
  };
  await Promise.all(lanes.map(async (lane) => {
    while (next < ids.length) {
      await fuzzCase(lane, ids[next++]!, counts, findings);
      // Long runs leave a readable partial report behind.
      if (next % 250 === 0) report(false);
    }
    lane.stop();
  }));
  report(true);
  const seconds = (Date.now() - started) / 1000;
  console.log(`fuzz: ${counts.cases} mutants, ${counts.runs} runs, ${counts.mustRefuse ?? 0} must-refuse, ${seconds.toFixed(0)} s; failures ${JSON.stringify(byFailure)}`);
  console.log(`fuzz: ${Object.entries(counts).filter(([k]) => k.includes(' exit ')).sort().map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  const shown = findings.slice(0, 15).map((f) => `case ${f.case} ${f.verb} (${f.failure}, exit ${f.code}): ${f.desc}\n    ${f.output.trim().split('\n').slice(0, 6).join('\n    ')}`);
  assert.is(findings.length, 0, `${findings.length} failure(s):\n${shown.join('\n')}`);
  // The silent-corruption check must have had cases to judge.
  if (ONLY === null && CASES >= 100) assert.ok((counts.mustRefuse ?? 0) >= 5, `only ${counts.mustRefuse ?? 0} shifted/duplicate mutants`);
});

test('the judge: what counts as a failure', () => {
  const run = (code: number | null, stderr: string, extra: Partial<Run> = {}): Run => ({ code, signal: null, stdout: '', stderr, timedOut: false, ...extra });
  assert.is(judge(run(2, 'mlxk: x/config.json: "n" is 0; expected 1..9\n'), false), null);
  assert.is(judge(run(1, 'mlxk: x: is not empty\nhint: use --force\n'), false), null);
  assert.is(judge(run(0, ''), true), 'silent acceptance');
  assert.is(judge(run(70, 'mlxk: internal error: TypeError: a is undefined\n    at f (file:///x.js:1:2)\n'), false), 'stack trace');
  assert.is(judge(run(1, 'TypeError: Cannot read properties of undefined\n'), false), 'stack trace');
  assert.is(judge(run(1, 'mlxk: one\nmlxk: two\n'), false), 'not one line');
  assert.is(judge(run(null, '', { signal: 'SIGSEGV' }), false), 'signal');
  assert.is(judge(run(null, '', { timedOut: true }), false), 'hang');
});

test.run();

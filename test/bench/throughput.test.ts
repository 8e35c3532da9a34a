// The bench runner on a stub model and a fake clock: each forward pass advances the
// clock by a set cost per token, scaled per trial, so every rate, median, min and max
// is known by hand; peak memory comes from a scripted probe.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { benchMarkdown, type BenchReport, benchSvg } from '../../lib/bench/benchReport.js';
import { machineInfo } from '../../lib/bench/machine.js';
import type { MemoryProbe } from '../../lib/bench/memory.js';
import { type BenchModel, type BenchSettings, randomTokens, runBench } from '../../lib/bench/throughput.js';
import { fakeModel, type FakeTime } from './fakeModel.js';
import { findAll, parseXml } from './xml.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

/** Trial k runs at multipliers[k] × the base cost and reports peaks[k] bytes. */
function stubs(multipliers: number[], peaks: number[]) {
  const time: FakeTime = { now: 0 };
  let trial = -1;
  const memory: MemoryProbe = { method: 'scripted', reset: () => void trial++, sample: () => {}, peak: () => peaks[trial]! };
  const model = fakeModel({ vocab: 50, maxContext: 100, strength: 1, prefillCost: 0.001, decodeCost: 0.01, time, scale: () => multipliers[trial]! });
  const bm: BenchModel = { label: 'stub', path: '/nowhere', bytes: 1234, bitsPerWeight: 4.5, load: async () => ({ model, loadSeconds: 0.5, release: async () => {} }) };
  return { clock: () => time.now, memory, bm };
}

const SETTINGS: BenchSettings = { promptSizes: [10, 50, 500], genSizes: [5, 200], genPrompt: 8, repetitions: 3, seed: 0 };

test('rates, medians, min and max from known per-trial costs; sizes beyond the context skipped', async () => {
  // Trial order: prompt 10 ×3, prompt 50 ×3, generation 5 ×3 (500 and 200 do not fit a context of 100).
  const mult = [1, 3, 2, 1, 1, 1, 3, 2, 1];
  const peaks = [100, 300, 200, 400, 600, 500, 700, 900, 800];
  const { clock, memory, bm } = stubs(mult, peaks);
  const r = await runBench({ settings: SETTINGS, models: [bm], clock, memory, noWarmup: true });
  assert.is(r.partial, false);
  const m = r.models[0]!;
  assert.equal([m.label, m.backend, m.arch, m.maxContext, m.bytes, m.bitsPerWeight, m.loadSeconds], ['stub', 'fake', 'fake', 100, 1234, 4.5, 0.5]);

  // Prompt 10 at ×1, ×3, ×2: TTFT = 10 × 1 ms × m; prompt tokens/s = 1000/m.
  const p10 = m.prompt[0]!;
  assert.is(p10.trials.length, 3);
  close(p10.timeToFirstTokenSeconds!.median, 0.02);
  close(p10.timeToFirstTokenSeconds!.min, 0.01);
  close(p10.timeToFirstTokenSeconds!.max, 0.03);
  close(p10.promptTokensPerSecond!.median, 500);
  close(p10.promptTokensPerSecond!.min, 1000 / 3);
  close(p10.promptTokensPerSecond!.max, 1000);
  assert.equal(p10.peakMemoryBytes, { median: 200, min: 100, max: 300, n: 3 });
  // One generated token: no generation rate.
  assert.is(p10.generationTokensPerSecond, undefined);
  assert.is(p10.trials[0]!.generationTokensPerSecond, null);

  close(m.prompt[1]!.promptTokensPerSecond!.median, 1000);

  // Generation 5 after an 8-token prompt at ×3, ×2, ×1: the 4 tokens after the first take 4 × 10 ms × m,
  // so 100/m tokens/s — the first token (inside the prefill time) is not counted.
  const g5 = m.generation[0]!;
  assert.equal([g5.size, g5.promptTokens, g5.generatedTokens], [5, 8, 5]);
  close(g5.generationTokensPerSecond!.median, 50);
  close(g5.generationTokensPerSecond!.min, 100 / 3);
  close(g5.generationTokensPerSecond!.max, 100);
  close(g5.trials[0]!.totalSeconds, (8 * 0.001 + 4 * 0.01) * 3);
  assert.equal(g5.peakMemoryBytes, { median: 800, min: 700, max: 900, n: 3 });

  const p500 = m.prompt[2]!;
  assert.match(p500.skipped!, /500 prompt \+ 1 generated tokens exceed the context of 100/);
  assert.equal(p500.trials, []);
  assert.match(m.generation[1]!.skipped!, /8 prompt \+ 200 generated tokens exceed the context of 100/);

  // The report shows the same numbers, the skipped cells and the notes.
  const report: BenchReport = { ...r, command: 'mlxk bench stub', notes: ['made by hand'], machine: machineInfo(), memoryMethod: memory.method, date: '2026-01-01' };
  const md = benchMarkdown(report);
  assert.match(md, /\| 10 \| 500\.0 \(333\.3–1000\.0\) \|/);
  assert.match(md, /\| 5 \| 50\.0 \(33\.3–100\.0\) \|/);
  assert.match(md, /\| 500 \| skipped \|/);
  assert.match(md, /- stub: 8 prompt \+ 200 generated tokens exceed the context of 100\./);
  assert.match(md, /mlxk bench stub/);
  assert.match(md, /\nmade by hand\n/);
  assert.not.match(md, /Partial/);
  const json = JSON.parse(JSON.stringify(report)) as BenchReport;
  assert.equal(Object.keys(json).sort(), ['command', 'date', 'machine', 'memoryMethod', 'models', 'notes', 'partial', 'seconds', 'settings']);
  assert.equal(Object.keys(json.models[0]!.prompt[0]!.trials[0]!).sort(), ['generatedTokens', 'generationTokensPerSecond', 'peakMemoryBytes', 'promptTokens', 'promptTokensPerSecond', 'timeToFirstTokenSeconds', 'totalSeconds']);

  // SVG: well-formed; one bar per measured cell, heights proportional to the medians.
  const svg = parseXml(benchSvg(report));
  const bars = findAll(svg, 'rect').filter((x) => findAll(x, 'title').length > 0);
  assert.is(bars.length, 3);
  const h = (label: string) => Number(bars.find((b) => b.children[0]!.text.startsWith(label))!.attrs.height);
  close(h('stub · 10') / h('stub · 50'), 500 / 1000, 2e-3);
});

test('several models become columns; an abort keeps the finished trials', async () => {
  const a = stubs(new Array(20).fill(1), new Array(20).fill(1));
  const ctl = new AbortController();
  let trials = 0;
  const r = await runBench({
    settings: { ...SETTINGS, promptSizes: [10], genSizes: [5] },
    models: [a.bm, { ...a.bm, label: 'second' }], clock: a.clock, memory: a.memory, noWarmup: true, signal: ctl.signal,
    onTrial: () => ++trials === 4 && ctl.abort(),
  });
  assert.is(r.partial, true);
  assert.equal(r.models.map((m) => m.label), ['stub']);
  assert.is(r.models[0]!.prompt[0]!.trials.length, 3);
  assert.is(r.models[0]!.generation[0]!.trials.length, 1);
  const md = benchMarkdown({ ...r, command: 'x', notes: [], machine: machineInfo(), memoryMethod: 'scripted', date: 'd' });
  assert.match(md, /Partial results/);
});

test('random prompt tokens: fixed by the seed, inside the vocabulary', () => {
  const a = randomTokens(1000, 163840, 0);
  assert.equal(a, randomTokens(1000, 163840, 0));
  assert.not.equal(a, randomTokens(1000, 163840, 1));
  assert.ok(a.every((t) => Number.isInteger(t) && t >= 0 && t < 163840));
  assert.ok(new Set(a).size > 990);
});

test.run();

// Where a served step's time goes (issue 14), not a test: loaded into the `mlxk serve` child of
// serve-load.ts with `node --import` when it runs with --trace, it wraps the engine's batcher and
// the request job (their prototypes, so the server's code is unchanged) and, at exit, writes to
// $MLXK_SERVE_TRACE one JSON object per client level (serve-load.ts marks the levels by sending
// SIGUSR2 between them):
//   forward: the synchronous part of each batched forward pass (model, evaluate, logits read);
//   sampling: each job's synchronous part of a decode step before it awaits the model (sample,
//     detokenize, parse, SSE frames written to the socket);
//   the rest of the wall time: the event loop (HTTP requests and responses, prompt rendering
//     replies, admission, timers) and idle waits;
//   batch sizes: how many sequences each forward pass carried, and how many of them were prompt
//     chunks (prefill) rather than one-token decode steps.
import { writeFileSync } from 'node:fs';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { StepBatcher } from '../lib/engine/batcher.js';
import { GenerationJob } from '../lib/server/job.js';

/** One level's record (serve-load.ts reads the file). */
export interface Level {
  wallMs: number;
  cpuMs: number;
  eventLoopUtilization: number;
  batches: number;
  forwardMs: number;
  decodeStepSyncMs: number;
  decodeSteps: number;
  prefillItems: number;
  prefillTokens: number;
  /** decode items per batch → number of batches */
  sizes: Record<number, number>;
  /** batches that carried a prompt chunk */
  mixedBatches: number;
  mixedForwardMs: number;
  /** garbage collection pauses (they fall inside whichever of the above allocated) */
  gcMs: number;
  /** gaps between the end of one forward pass and the start of the next: median and mean */
  gapMedianMs: number;
  gapMeanMs: number;
}

const fresh = (): Level => ({ wallMs: 0, cpuMs: 0, eventLoopUtilization: 0, batches: 0, forwardMs: 0, decodeStepSyncMs: 0, decodeSteps: 0, prefillItems: 0, prefillTokens: 0, sizes: {}, mixedBatches: 0, mixedForwardMs: 0, gcMs: 0, gapMedianMs: 0, gapMeanMs: 0 });
let gaps: number[] = [];
let lastEnd = 0;
let level = fresh();
let started = { wall: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
const levels: Level[] = [];

function close(): void {
  const cpu = process.cpuUsage(started.cpu);
  level.wallMs = performance.now() - started.wall;
  level.cpuMs = (cpu.user + cpu.system) / 1000;
  level.eventLoopUtilization = performance.eventLoopUtilization(started.elu).utilization;
  gaps.sort((a, b) => a - b);
  level.gapMedianMs = gaps[gaps.length >> 1] ?? 0;
  level.gapMeanMs = gaps.reduce((a, g) => a + g, 0) / Math.max(1, gaps.length);
  gaps = [];
  lastEnd = 0;
  levels.push(level);
  level = fresh();
  started = { wall: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() };
}

type Item = { ids: readonly number[] };
const batcher = StepBatcher.prototype as unknown as { run(batch: Item[]): Promise<void> };
const run = batcher.run;
batcher.run = function (this: unknown, batch: Item[]): Promise<void> {
  const t0 = performance.now();
  if (lastEnd > 0) gaps.push(t0 - lastEnd);
  const done = run.call(this, batch);
  lastEnd = performance.now();
  const ms = lastEnd - t0;
  const prefill = batch.filter((p) => p.ids.length > 1);
  level.batches++;
  level.forwardMs += ms;
  level.prefillItems += prefill.length;
  level.prefillTokens += prefill.reduce((a, p) => a + p.ids.length, 0);
  const decodes = batch.length - prefill.length;
  level.sizes[decodes] = (level.sizes[decodes] ?? 0) + 1;
  if (prefill.length > 0) {
    level.mixedBatches++;
    level.mixedForwardMs += ms;
  }
  return done;
};

const job = GenerationJob.prototype as unknown as { decodeStep(): Promise<unknown> };
const decodeStep = job.decodeStep;
job.decodeStep = function (this: unknown): Promise<unknown> {
  const t0 = performance.now();
  const done = decodeStep.call(this);
  level.decodeStepSyncMs += performance.now() - t0;
  level.decodeSteps++;
  return done;
};

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) level.gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', close);
process.on('exit', () => {
  close();
  if (process.env.MLXK_SERVE_TRACE) writeFileSync(process.env.MLXK_SERVE_TRACE, JSON.stringify(levels));
});

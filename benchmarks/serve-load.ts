// Load on `mlxk serve`: 1, 2, 4 and 8 concurrent streaming clients (raw fetch, SSE read by hand)
// against a model (the bundled one unless --model DIR) in a child process. Per level: requests/s,
// time to first token (p50/p99), per-stream and aggregate tokens/s, errors (must be 0). Baseline,
// in the same run: the engine alone (LanguageModel.generate in this process, the same prompt
// shape, no HTTP), measured in every round.
// --model DIR without a tokenizer (the synthetic models of benchmarks/decode.ts): DIR's files are
// linked into a scratch folder next to the bundled model's tokenizer (its ids are a subset of
// any vocabulary ≥ 4128; generated ids beyond it decode to no text, so TTFT there is the first
// token with text).
// --trace: the server runs with benchmarks/serve-trace.js and the per-level breakdown of its time
// (forward passes, per-request decode work, the rest; batch sizes) is printed after the table.
// Run: npm run build && node dist/benchmarks/serve-load.js [--model DIR] [--rounds 3] [--requests 24] [--max-tokens 64] [--max-active 4] [--trace]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LanguageModel } from '../lib/engine/languageModel.js';
import type { Level as TraceLevel } from './serve-trace.js';
import { sseData } from './sseData.js';

const REPO = new URL('../../', import.meta.url).pathname;
const BUNDLED = join(REPO, 'models', 'tiny-kimi');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const modelArg = process.argv.indexOf('--model');
const TRACE = process.argv.includes('--trace');
const scratch: string[] = [];

/** DIR itself when it has a tokenizer, else a scratch folder of links to DIR's files and the bundled tokenizer. */
function servable(dir: string): string {
  if (['tiktoken.model', 'tokenizer.json'].some((f) => existsSync(join(dir, f)))) return dir;
  const out = mkdtempSync(join(tmpdir(), 'mlxk-serve-load-'));
  scratch.push(out);
  for (const f of readdirSync(dir)) symlinkSync(join(dir, f), join(out, f));
  for (const f of ['tiktoken.model', 'tokenizer_config.json']) symlinkSync(join(BUNDLED, f), join(out, f));
  return out;
}
const MODEL = modelArg > 0 ? servable(resolve(process.argv[modelArg + 1]!)) : BUNDLED;
const REQUESTS = arg('requests', 24);
const ROUNDS = arg('rounds', 3);
const MAX_TOKENS = arg('max-tokens', 64);
const MAX_ACTIVE = arg('max-active', 4);
const LEVELS = [1, 2, 4, 8];
const TOPICS = ['list comprehensions', 'the with statement', 'decorators', 'generators', 'the GIL', 'asyncio', 'f-strings', 'dataclasses', 'virtual environments', 'exceptions', 'slicing', 'unicode strings', 'the import system', 'type hints', 'closures', 'iterators'];
const prompt = (i: number) => `Question ${i}: explain ${TOPICS[i % TOPICS.length]} in Python with an example.`;

interface UsageObject {
  completion_tokens: number;
  prompt_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

interface Sample {
  ok: boolean;
  ttftMs: number;
  totalMs: number;
  tokens: number;
  cached: number;
  promptTokens: number;
}

let MODEL_ID = '';

async function oneRequest(url: string, i: number): Promise<Sample> {
  const t0 = performance.now();
  const bad: Sample = { ok: false, ttftMs: 0, totalMs: 0, tokens: 0, cached: 0, promptTokens: 0 };
  try {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_ID, messages: [{ role: 'user', content: prompt(i) }], max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } }),
    });
    if (r.status !== 200 || !r.body) return bad;
    let first = 0;
    let usage = null as UsageObject | null;
    let done = false;
    for await (const data of sseData(r.body as AsyncIterable<Uint8Array>)) {
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(data) as { error?: unknown; choices: { delta: { content?: string } }[]; usage?: UsageObject | null };
      if (chunk.error) return bad;
      if (!first && chunk.choices[0]?.delta.content) first = performance.now();
      if (chunk.usage) usage = chunk.usage;
    }
    if (!done || usage === null) return bad;
    const t1 = performance.now();
    const u: UsageObject = usage;
    return { ok: true, ttftMs: (first || t1) - t0, totalMs: t1 - t0, tokens: u.completion_tokens, cached: u.prompt_tokens_details.cached_tokens, promptTokens: u.prompt_tokens };
  } catch {
    return bad;
  }
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

interface LevelRun {
  samples: Sample[];
  wallSeconds: number;
}

async function level(url: string, clients: number, offset: number): Promise<LevelRun> {
  let next = 0;
  const samples: Sample[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < REQUESTS) samples.push(await oneRequest(url, offset + next++));
    }),
  );
  return { samples, wallSeconds: (performance.now() - t0) / 1000 };
}

const median = (xs: number[]) => percentile(xs, 50);

/** Pooled latencies over all rounds; rates as the median of the rounds' values. */
function summarize(clients: number, runs: LevelRun[]) {
  const all = runs.flatMap((r) => r.samples);
  const ok = all.filter((s) => s.ok);
  const streamRates = ok.filter((s) => s.tokens > 1).map((s) => (s.tokens - 1) / ((s.totalMs - s.ttftMs) / 1000));
  return {
    clients,
    requests: all.length,
    errors: all.length - ok.length,
    rps: median(runs.map((r) => r.samples.filter((s) => s.ok).length / r.wallSeconds)),
    ttftP50: percentile(ok.map((s) => s.ttftMs), 50),
    ttftP99: percentile(ok.map((s) => s.ttftMs), 99),
    streamTps: median(streamRates),
    aggregateTps: median(runs.map((r) => r.samples.reduce((a, s) => a + (s.ok ? s.tokens : 0), 0) / r.wallSeconds)),
    cachedShare: ok.reduce((a, s) => a + s.cached, 0) / Math.max(1, ok.reduce((a, s) => a + s.promptTokens, 0)),
  };
}

async function engineBaseline(lm: LanguageModel): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await lm.generate({ messages: [{ role: 'user', content: prompt(1000 + i) }] }, { maxTokens: MAX_TOKENS, temperature: 0 });
    rates.push(r.stats.generationTokensPerSecond);
  }
  return percentile(rates, 50);
}

interface Server {
  url: string;
  /** Marks a boundary between levels in the --trace breakdown. */
  mark: () => Promise<void>;
  stop: () => Promise<void>;
}

const TRACE_FILE = join(tmpdir(), `mlxk-serve-trace-${process.pid}.json`);

async function startServer(): Promise<Server> {
  const hook = TRACE ? ['--import', new URL('./serve-trace.js', import.meta.url).href] : [];
  const env = TRACE ? { ...process.env, MLXK_SERVE_TRACE: TRACE_FILE } : process.env;
  const child = spawn(process.execPath, [...hook, join(REPO, 'bin', 'mlxk'), 'serve', MODEL, '--port', '0', '--quiet', '--max-active', String(MAX_ACTIVE), '--max-queue', '64'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`mlxk serve exited (${code}):\n${err}`)));
  });
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
  MODEL_ID = models.data[0]!.id;
  return {
    url,
    mark: async () => {
      if (!TRACE) return;
      child.kill('SIGUSR2');
      await sleep(100);
    },
    stop: () => new Promise((resolve) => (child.once('exit', () => resolve()), child.kill('SIGINT'))),
  };
}

/** The server's time per level, summed over rounds (segments alternate: between levels, a level). */
function printTrace(segments: TraceLevel[]): void {
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log('\nserver time per level (benchmarks/serve-trace.ts; summed over rounds):\n');
  console.log('| clients | forward passes | decode sequences per pass (mean) | passes with a prompt chunk | ms per pass: decode only / with a prompt chunk | forward % of wall | per-request decode work µs per token (% of wall) | rest % of wall | gap between passes: median / mean ms | GC % of wall | server CPU % of wall | event loop utilization |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  LEVELS.forEach((clients, li) => {
    const mine = segments.filter((_, i) => i % 2 === 1 && ((i - 1) / 2) % LEVELS.length === li);
    const sum = (k: Exclude<keyof TraceLevel, 'sizes'>) => mine.reduce((a, m) => a + m[k], 0);
    const wall = sum('wallMs');
    const passes = sum('batches');
    const decodes = mine.reduce((a, m) => a + Object.entries(m.sizes).reduce((b, [size, n]) => b + Number(size) * n, 0), 0);
    const mixed = sum('mixedBatches');
    const fwd = sum('forwardMs');
    const mixedMs = sum('mixedForwardMs');
    const work = sum('decodeStepSyncMs');
    const elu = mine.reduce((a, m) => a + m.eventLoopUtilization * m.wallMs, 0) / wall;
    console.log(`| ${clients} | ${passes} | ${f(decodes / passes, 2)} | ${f((100 * mixed) / passes, 0)} % (${f(sum('prefillTokens') / Math.max(1, sum('prefillItems')), 0)} tokens each) | ${f((fwd - mixedMs) / Math.max(1, passes - mixed), 2)} / ${f(mixedMs / Math.max(1, mixed), 2)} | ${f((100 * fwd) / wall, 0)} % | ${f((1000 * work) / sum('decodeSteps'), 0)} (${f((100 * work) / wall, 0)} %) | ${f((100 * (wall - fwd - work)) / wall, 0)} % | ${f(median(mine.map((m) => m.gapMedianMs)), 2)} / ${f(sum('gapMeanMs') / mine.length, 2)} | ${f((100 * sum('gcMs')) / wall, 0)} % | ${f((100 * sum('cpuMs')) / wall, 0)} % | ${f(elu, 2)} |`);
  });
}

const loadBefore = loadavg();
const lm = await LanguageModel.load(MODEL);
const server = await startServer();
await oneRequest(server.url, 9999); // warm-up
const runs = new Map<number, LevelRun[]>(LEVELS.map((c) => [c, []]));
const baselines: number[] = [];
let offset = 0;
// Rounds interleave the levels and the baseline, so drifting load on the shared cores hits all alike.
for (let round = 0; round < ROUNDS; round++) {
  baselines.push(await engineBaseline(lm));
  for (const c of LEVELS) {
    await server.mark();
    runs.get(c)!.push(await level(server.url, c, offset));
    await server.mark();
    offset += REQUESTS;
  }
}
await server.stop();
const loadAfter = loadavg();
const baseline = median(baselines);
const rows = LEVELS.map((c) => summarize(c, runs.get(c)!));

const f = (x: number, d = 1) => x.toFixed(d);
console.log(`machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, Node ${process.version}; load average before ${loadBefore.map((x) => f(x, 2)).join(' ')}, after ${loadAfter.map((x) => f(x, 2)).join(' ')}`);
console.log(`${ROUNDS} rounds × ${REQUESTS} streaming chat requests per level, max_tokens ${MAX_TOKENS}, greedy, distinct prompts; server --max-active ${MAX_ACTIVE}`);
console.log(`engine alone (LanguageModel.generate in this process, same prompt shape, no HTTP): ${f(baseline)} tokens/s (median; rounds: ${baselines.map((b) => f(b)).join(', ')})\n`);
console.log('| clients | requests | errors | requests/s | TTFT p50 | TTFT p99 | tokens/s per stream (p50) | aggregate tokens/s | × 1 client | vs engine alone | prompt tokens cached |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.clients} | ${r.requests} | ${r.errors} | ${f(r.rps, 2)} | ${f(r.ttftP50, 0)} ms | ${f(r.ttftP99, 0)} ms | ${f(r.streamTps)} | ${f(r.aggregateTps)} | ${f(r.aggregateTps / rows[0]!.aggregateTps, 2)}× | ${f(r.aggregateTps / baseline, 2)}× | ${f(r.cachedShare * 100, 0)}% |`);
}
if (TRACE) printTrace(JSON.parse(readFileSync(TRACE_FILE, 'utf8')) as TraceLevel[]);
rmSync(TRACE_FILE, { force: true });
for (const d of scratch) rmSync(d, { recursive: true, force: true });
if (rows.some((r) => r.errors > 0)) process.exitCode = 1;

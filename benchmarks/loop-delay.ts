// What holds serve's event loop under load, and /health's latency, with and without the batch
// token budget (lib/engine/batcher.ts; issue 15). One process: the server (startServer) and 8
// streaming clients sending 300–500-word prompts, a /health poll every 250 ms. Phases alternate
// between no budget (every pending step in one forward pass, as before) and the default budget,
// in the same warm process, and so do servers with 512- and 128-token prefill chunks. Per phase: the event loop's delay (perf_hooks.monitorEventLoopDelay,
// 10 ms resolution), the longest synchronous batch (a forward pass: its tokens and sequences),
// /health latency and the tokens served per second.
// Run: npm run build && nice -n 5 node dist/benchmarks/loop-delay.js [--seconds 40] [--rounds 2] [--clients 8]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setMaxBatchTokens, StepBatcher } from '../lib/engine/batcher.js';
import { startServer } from '../lib/server/serve.js';

const REPO = new URL('../../', import.meta.url).pathname;
const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i > 0 ? process.argv[i + 1]! : fallback);
};
const SECONDS = flag('seconds', '40');
const ROUNDS = flag('rounds', '2');
const CLIENTS = flag('clients', '8');
const WORDS = readFileSync(join(REPO, 'README.md'), 'utf8').split(/\s+/).filter(Boolean);

// The synchronous part of each batch: run() up to its first await (after the forward pass).
let longest = { ms: 0, tokens: 0, sequences: 0 };
type Batch = { ids: readonly number[] }[];
const proto = StepBatcher.prototype as unknown as { run: (batch: Batch) => Promise<void> };
const run = proto.run;
proto.run = function (this: unknown, batch: Batch) {
  const t = performance.now();
  const p = run.call(this, batch);
  const ms = performance.now() - t;
  if (ms > longest.ms) longest = { ms, tokens: batch.reduce((a, b) => a + b.ids.length, 0), sequences: batch.length };
  return p;
};

const serve = (prefillChunk: number) => startServer({ models: [{ path: join(REPO, 'models', 'tiny-kimi') }], port: 0, memoryBytes: 2 ** 31, promptCacheBytes: 64 * 2 ** 20, prefillChunk });
const SETTINGS = [
  { name: 'chunk 512, no budget (before)', server: await serve(512), budget: Infinity },
  { name: 'chunk 512, budget 576', server: await serve(512), budget: 576 },
  { name: 'chunk 128, budget 192', server: await serve(128), budget: 192 },
];
let server = SETTINGS[0]!.server;
let n = 0;
let tokens = 0;
let failed = 0;
let stop = false;
async function client(): Promise<void> {
  while (!stop) {
    const i = n++;
    const start = (i * 613) % (WORDS.length - 600);
    const content = `${i} ${WORDS.slice(start, start + 300 + (i % 3) * 100).join(' ')}`;
    const r = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-kimi', messages: [{ role: 'user', content }], max_tokens: 16 + (i % 4) * 16, temperature: 0.7, stream: false }) });
    const j = (await r.json()) as { usage?: { prompt_tokens: number; completion_tokens: number } };
    if (r.status !== 200 || !j.usage) failed++;
    else tokens += j.usage.prompt_tokens + j.usage.completion_tokens;
  }
}
const clients = Array.from({ length: CLIENTS }, () => client());

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] ?? NaN;
console.log(`# loop-delay, ${new Date().toISOString()}, ${CLIENTS} clients, ${SECONDS} s phases, load average ${loadavg().map((x) => x.toFixed(2)).join(' / ')}\n`);
console.log('| round | setting | loop delay p50 / p99 / max ms | longest batch ms (tokens, sequences) | /health p50 / max ms | tokens/s | load 1 min |');
console.log('|---|---|---|---|---|---|---|');
await new Promise((r) => setTimeout(r, 5000)); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const setting of round % 2 === 0 ? SETTINGS : [...SETTINGS].reverse()) {
    const budget = setting.budget;
    server = setting.server;
    setMaxBatchTokens(budget);
    // Requests still running on the previous phase's server finish first.
    await new Promise((r) => setTimeout(r, 6000));
    longest = { ms: 0, tokens: 0, sequences: 0 };
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const tokens0 = tokens;
    const health: number[] = [];
    const t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) {
      const t = performance.now();
      await (await fetch(`${server.url}/health`)).json();
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 250));
    }
    h.disable();
    const rate = (tokens - tokens0) / ((performance.now() - t0) / 1000);
    const ms = (ns: number) => (ns / 1e6).toFixed(0);
    console.log(`| ${round + 1} | ${setting.name} | ${ms(h.percentile(50))} / ${ms(h.percentile(99))} / ${ms(h.max)} | ${longest.ms.toFixed(0)} (${longest.tokens}, ${longest.sequences}) | ${pct(health, 50).toFixed(0)} / ${Math.max(...health).toFixed(0)} | ${rate.toFixed(0)} | ${loadavg()[0]!.toFixed(2)} |`);
  }
}
stop = true;
await Promise.all(clients);
for (const s of SETTINGS) await s.server.close();
console.log(`\nrequests ${n}, failed ${failed}; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' / ')}`);

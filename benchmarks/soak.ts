// A long soak of `mlxk serve` with the prompt cache on (issue 15): 8 concurrent clients for 30
// minutes against the bundled model in a child process, mixing the OpenAI and Anthropic APIs,
// streaming and not, and conversations of 1–3 turns whose opening prompts vary in length (20–500
// words) and start with a distinct number, so the cache fills, hits on follow-up turns and evicts.
// Every few seconds: the server's resident memory (its /proc/<pid>/status, not its own report),
// what /health says the prompt cache holds (bytes, entries, evictions) and how long /health took.
// Every request must succeed. The report (markdown on stdout, an SVG beside it with --svg) shows
// whether resident memory is flat once the cache is at its cap.
// Run: npm run build && nice -n 5 node dist/benchmarks/soak.js [--minutes 30] [--clients 8] [--cap 384MiB] [--every 5] [--svg benchmarks/results/soak.svg]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { finishMachineInfo, machineInfo, machineLine } from '../lib/bench/machine.js';
import { lineChart, svgDocument } from '../lib/bench/svg.js';

const REPO = new URL('../../', import.meta.url).pathname;
const MODEL = join(REPO, 'models', 'tiny-kimi');
const MiB = 2 ** 20;
const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const MINUTES = Number(flag('minutes', '30'));
const CLIENTS = Number(flag('clients', '8'));
const CAP = flag('cap', '384MiB');
const EVERY_S = Number(flag('every', '5'));
const SVG = flag('svg', '');
const WORDS = readFileSync(join(REPO, 'README.md'), 'utf8').split(/\s+/).filter(Boolean);

type Api = 'openai' | 'anthropic';
interface Turn { role: 'user' | 'assistant'; content: string }
interface Outcome { ok: boolean; text: string; why?: string }

/** One request; streaming responses are read frame by frame and must end with their API's end marker. */
async function request(url: string, api: Api, stream: boolean, messages: Turn[], maxTokens: number): Promise<Outcome> {
  const path = api === 'openai' ? '/v1/chat/completions' : '/v1/messages';
  const body = { model: 'tiny-kimi', messages, max_tokens: maxTokens, temperature: 0.7, stream };
  let r: Response;
  try {
    r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (e) {
    return { ok: false, text: '', why: String(e) };
  }
  if (r.status !== 200) return { ok: false, text: '', why: `${r.status} ${await r.text()}` };
  if (!stream) {
    const j = (await r.json()) as { choices?: { message: { content: string } }[]; content?: { type: string; text?: string }[] };
    const text = api === 'openai' ? j.choices?.[0]?.message.content : j.content?.map((c) => c.text ?? '').join('');
    return typeof text === 'string' ? { ok: true, text } : { ok: false, text: '', why: JSON.stringify(j).slice(0, 200) };
  }
  let buffer = '';
  let text = '';
  let ended = false;
  const decoder = new TextDecoder();
  for await (const bytes of r.body!) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '))?.slice(6);
      if (data === undefined) continue;
      if (data === '[DONE]') {
        ended = true;
        continue;
      }
      const j = JSON.parse(data) as { error?: unknown; type?: string; choices?: { delta: { content?: string } }[]; delta?: { text?: string } };
      if (j.error || j.type === 'error') return { ok: false, text, why: data.slice(0, 200) };
      text += api === 'openai' ? (j.choices?.[0]?.delta.content ?? '') : (j.delta?.text ?? '');
      if (j.type === 'message_stop') ended = true;
    }
  }
  return ended ? { ok: true, text } : { ok: false, text, why: 'stream ended without its end marker' };
}

/** Deterministic pseudo-random numbers (mulberry32), so two runs send the same requests. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function startServer(): Promise<{ url: string; pid: number; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'mlxk'), 'serve', MODEL, '--port', '0', '--quiet', '--prompt-cache-bytes', CAP, '--max-queue', '64'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) resolve({ url: m[1]!, pid: child.pid!, stop: () => new Promise((done) => (child.once('exit', (code) => done(code)), child.kill('SIGTERM'))) });
    });
    child.on('exit', (code) => reject(new Error(`mlxk serve exited (${code}):\n${err}`)));
  });
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Sample { t: number; rss: number; cacheBytes: number; capBytes: number; entries: number; evictions: number; hits: number; healthMs: number; done: number; failed: number; load: number }
interface Health { prompt_cache: { bytes: number; cap_bytes: number; entries: number; evictions: number; hits: number } }

const machine = machineInfo();
const server = await startServer();
const t0 = performance.now();
const deadline = t0 + MINUTES * 60_000;
const counts = { done: 0, failed: 0, byKind: new Map<string, number>() };
const failures: string[] = [];
const samples: Sample[] = [];
let conversations = 0;

async function client(id: number): Promise<void> {
  const rand = rng(1000 + id);
  while (performance.now() < deadline) {
    // A conversation: a distinct opening (its number first, so no two share more than the
    // template's start), then up to two follow-ups that reuse it through the prompt cache.
    const n = conversations++;
    const start = Math.floor(rand() * (WORDS.length - 520));
    const len = 20 + Math.floor(rand() * 480);
    const messages: Turn[] = [{ role: 'user', content: `${n} ${WORDS.slice(start, start + len).join(' ')}` }];
    const turns = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < turns && performance.now() < deadline; k++) {
      const api: Api = rand() < 0.5 ? 'openai' : 'anthropic';
      const stream = rand() < 0.5;
      const out = await request(server.url, api, stream, messages, 4 + Math.floor(rand() * 60));
      const kind = `${api} ${stream ? 'streaming' : 'plain'}`;
      counts.byKind.set(kind, (counts.byKind.get(kind) ?? 0) + 1);
      if (!out.ok) {
        counts.failed++;
        failures.push(`${kind}: ${out.why}`);
        break;
      }
      counts.done++;
      const more = Math.floor(rand() * (WORDS.length - 60));
      messages.push({ role: 'assistant', content: out.text }, { role: 'user', content: WORDS.slice(more, more + 10 + Math.floor(rand() * 50)).join(' ') });
    }
  }
}

async function sample(): Promise<void> {
  const h0 = performance.now();
  const h = (await (await fetch(`${server.url}/health`)).json()) as Health;
  const healthMs = performance.now() - h0;
  const c = h.prompt_cache;
  samples.push({ t: (performance.now() - t0) / 1000, rss: rssOf(server.pid), cacheBytes: c.bytes, capBytes: c.cap_bytes, entries: c.entries, evictions: c.evictions, hits: c.hits, healthMs, done: counts.done, failed: counts.failed, load: loadavg()[0]! });
}

await sample();
const sampler = setInterval(() => void sample().catch((e: unknown) => failures.push(`/health: ${String(e)}`)), EVERY_S * 1000);
await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
clearInterval(sampler);
await sample();
const exitCode = await server.stop();
const end = finishMachineInfo(machine);

// --- report ---
const f = (x: number, d = 1) => x.toFixed(d);
const mib = (x: number) => f(x / MiB);
const cap = samples[0]!.capBytes;
// Full: the first sample after the first eviction (the cache reached its cap).
const fullAt = samples.findIndex((s) => s.evictions > 0);
const full = fullAt >= 0 ? samples.slice(fullAt) : [];
/** Least-squares slope of RSS over time, MiB per minute. */
function slope(xs: Sample[]): number {
  const n = xs.length;
  const mt = xs.reduce((a, s) => a + s.t, 0) / n;
  const mr = xs.reduce((a, s) => a + s.rss, 0) / n;
  const num = xs.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0);
  const den = xs.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  return (num / den) * 60 / MiB;
}
const health = samples.map((s) => s.healthMs).sort((a, b) => a - b);
const pct = (p: number) => health[Math.min(health.length - 1, Math.ceil(p * health.length) - 1)]!;
const last = samples[samples.length - 1]!;
const first = samples[0]!;
const lines = [
  `Command: \`nice -n 5 node dist/benchmarks/soak.js ${process.argv.slice(2).join(' ')}\` (server: \`mlxk serve models/tiny-kimi --prompt-cache-bytes ${CAP} --max-queue 64\`)`,
  '',
  `Machine: ${machineLine(end)}.`,
  '',
  `${CLIENTS} clients for ${MINUTES} min: ${counts.done} requests answered, ${counts.failed} failed (${[...counts.byKind].map(([k, v]) => `${k} ${v}`).join(', ')}); ${conversations} conversations; server exit code on SIGTERM ${exitCode}.`,
  `Prompt cache: cap ${mib(cap)} MiB; at the end ${last.entries} entries, ${mib(last.cacheBytes)} MiB, ${last.hits} hits, ${last.evictions} evictions.`,
  fullAt >= 0
    ? `Full (first eviction) at ${f(full[0]!.t / 60)} min, RSS ${mib(full[0]!.rss)} MiB. From then to the end (${f((last.t - full[0]!.t) / 60)} min, ${full.length} samples): RSS min ${mib(Math.min(...full.map((s) => s.rss)))}, max ${mib(Math.max(...full.map((s) => s.rss)))}, end ${mib(last.rss)} MiB; least-squares slope ${f(slope(full), 2)} MiB/min (while filling: ${fullAt > 2 ? f(slope(samples.slice(0, fullAt)), 2) : '–'} MiB/min).`
    : 'The cache never reached its cap (no eviction): lower --cap or run longer.',
  `RSS growth from the first sample to the cap against the cache's own count: ${fullAt >= 0 ? `+${mib(full[0]!.rss - first.rss)} MiB vs +${mib(full[0]!.cacheBytes - first.cacheBytes)} MiB (${f((full[0]!.rss - first.rss) / (full[0]!.cacheBytes - first.cacheBytes), 3)}×)` : '–'}.`,
  `/health latency over ${health.length} samples: median ${f(pct(0.5))} ms, p90 ${f(pct(0.9))} ms, max ${f(health[health.length - 1]!)} ms.`,
  '',
  ...(failures.length ? ['Failures (first 10):', '', ...failures.slice(0, 10).map((x) => `- ${x}`), ''] : []),
  '| minute | RSS MiB | cache MiB | entries | evictions | hits | requests | failed | /health ms | load 1 min |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
// The table: one row a minute (and the first and last samples); the SVG has every sample.
let nextRow = 0;
for (const s of samples) {
  if (s !== last && s.t < nextRow) continue;
  nextRow = Math.floor(s.t / 60) * 60 + 60;
  lines.push(`| ${f(s.t / 60)} | ${mib(s.rss)} | ${mib(s.cacheBytes)} | ${s.entries} | ${s.evictions} | ${s.hits} | ${s.done} | ${s.failed} | ${f(s.healthMs)} | ${f(s.load, 2)} |`);
}
console.log(lines.join('\n'));
if (SVG) {
  const chart = lineChart({
    title: `mlxk serve, ${CLIENTS} clients, prompt cache cap ${mib(cap)} MiB`,
    xLabel: 'minutes',
    yLabel: 'MiB',
    series: [
      { name: 'server RSS', points: samples.map((s) => ({ x: s.t / 60, y: s.rss / MiB })) },
      { name: 'prompt cache bytes (its own count)', points: samples.map((s) => ({ x: s.t / 60, y: s.cacheBytes / MiB })) },
      { name: 'cap', points: samples.map((s) => ({ x: s.t / 60, y: s.capBytes / MiB })) },
    ],
  });
  writeFileSync(SVG, svgDocument([chart], `load average ${end.loadAverageStart.join(' / ')} at start, ${end.loadAverageEnd!.join(' / ')} at end`));
}
if (counts.failed > 0 || failures.length > 0) process.exitCode = 1;

// Serving speed with the prompt cache, this build against another checkout (--against DIR, built),
// interleaved in one run (issue 15): keeping cache entries in anonymous mappings of their own must
// cost prefill and decode nothing, where a process-wide fixed mmap threshold cost ~0.57× prefill
// and ~0.8× decode. Each round starts each build's `mlxk serve` in turn (the order alternates) with
// a cap small enough to evict, and runs the same conversations one request at a time (streaming,
// temperature 0, 2 turns each, so turn 2 hits the cache): prefill tokens/s = prompt tokens computed
// (not taken from the cache) / time to first token; decode tokens/s = (completion tokens − 1) /
// time after the first token.
// Run: npm run build && nice -n 5 node dist/benchmarks/prompt-cache-speed.js --against /tmp/base [--rounds 3] [--conversations 6]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { sseData } from './sseData.js';

const REPO = new URL('../../', import.meta.url).pathname;
const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const AGAINST = flag('against', '');
const ROUNDS = Number(flag('rounds', '3'));
const CONVERSATIONS = Number(flag('conversations', '6'));
const MAX_TOKENS = 32;
if (!AGAINST) throw new Error('--against DIR (a built checkout to compare with) is required');
const WORDS = readFileSync(join(REPO, 'README.md'), 'utf8').split(/\s+/).filter(Boolean);

interface Usage { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } }
interface Totals { prefillTokens: number; prefillMs: number; decodeTokens: number; decodeMs: number; cached: number }

async function chat(url: string, messages: { role: string; content: string }[]): Promise<{ text: string; ttft: number; after: number; usage: Usage }> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-kimi', messages, max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } }) });
  if (r.status !== 200 || !r.body) throw new Error(`${r.status} ${await r.text()}`);
  let first = 0;
  let text = '';
  let usage: Usage | null = null;
  for await (const data of sseData(r.body as AsyncIterable<Uint8Array>)) {
    if (data === '[DONE]') continue;
    const chunk = JSON.parse(data) as { choices: { delta: { content?: string } }[]; usage?: Usage | null };
    const piece = chunk.choices[0]?.delta.content;
    if (piece && !first) first = performance.now();
    if (piece) text += piece;
    if (chunk.usage) usage = chunk.usage;
  }
  const t1 = performance.now();
  if (!usage) throw new Error('no usage in the stream');
  return { text, ttft: (first || t1) - t0, after: t1 - (first || t1), usage };
}

async function runBuild(dir: string, round: number): Promise<Totals> {
  const child = spawn(process.execPath, [join(dir, 'bin', 'mlxk'), 'serve', join(dir, 'models', 'tiny-kimi'), '--port', '0', '--quiet', '--prompt-cache-bytes', '8MiB'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((res, rej) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) res(m[1]!);
    });
    child.once('exit', (code) => rej(new Error(`server exited ${code}: ${err}`)));
  });
  const t: Totals = { prefillTokens: 0, prefillMs: 0, decodeTokens: 0, decodeMs: 0, cached: 0 };
  try {
    await chat(url, [{ role: 'user', content: 'warm up' }]);
    for (let c = 0; c < CONVERSATIONS; c++) {
      const start = ((round * CONVERSATIONS + c) * 613) % (WORDS.length - 400);
      const messages = [{ role: 'user', content: `${c} ${WORDS.slice(start, start + 300).join(' ')}` }];
      for (let turn = 0; turn < 2; turn++) {
        const out = await chat(url, messages);
        const u = out.usage;
        t.prefillTokens += u.prompt_tokens - u.prompt_tokens_details.cached_tokens;
        t.prefillMs += out.ttft;
        t.decodeTokens += Math.max(0, u.completion_tokens - 1);
        t.decodeMs += out.after;
        t.cached += u.prompt_tokens_details.cached_tokens;
        messages.push({ role: 'assistant', content: out.text }, { role: 'user', content: `and then ${WORDS.slice(start + 300, start + 340).join(' ')}` });
      }
    }
  } finally {
    await new Promise((done) => (child.once('exit', done), child.kill('SIGTERM')));
  }
  return t;
}

const builds = [{ name: 'this build', dir: REPO }, { name: `against (${AGAINST})`, dir: resolve(AGAINST) }];
const load0 = loadavg();
console.log(`# prompt-cache-speed, ${new Date().toISOString()}, load average ${load0.map((x) => x.toFixed(2)).join(' / ')}\n`);
console.log('| round | build | prefill tok/s | decode tok/s | cached prompt tokens |');
console.log('|---|---|---|---|---|');
const ratios: { prefill: number; decode: number }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? builds : [...builds].reverse();
  const got = new Map<string, Totals>();
  for (const b of order) {
    const t = await runBuild(b.dir, round);
    got.set(b.name, t);
    console.log(`| ${round + 1} | ${b.name} | ${((t.prefillTokens / t.prefillMs) * 1000).toFixed(1)} | ${((t.decodeTokens / t.decodeMs) * 1000).toFixed(1)} | ${t.cached} |`);
  }
  const a = got.get(builds[0]!.name)!;
  const b = got.get(builds[1]!.name)!;
  ratios.push({ prefill: (a.prefillTokens / a.prefillMs) / (b.prefillTokens / b.prefillMs), decode: (a.decodeTokens / a.decodeMs) / (b.decodeTokens / b.decodeMs) });
}
const geo = (xs: number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
console.log(`\nthis build / against, per round: prefill ${ratios.map((r) => r.prefill.toFixed(3)).join(', ')} (geometric mean ${geo(ratios.map((r) => r.prefill)).toFixed(3)}); decode ${ratios.map((r) => r.decode.toFixed(3)).join(', ')} (geometric mean ${geo(ratios.map((r) => r.decode)).toFixed(3)})`);
console.log(`load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' / ')}`);

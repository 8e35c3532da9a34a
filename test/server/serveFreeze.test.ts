// No request can freeze the server (issue 15): `mlxk serve` in a child process gets megabytes of
// whitespace-free text (the costliest kind to tokenize) while this process polls /health. Bodies
// over --max-body get 413 in each API's shape; a prompt whose size alone overflows the context is
// refused before tokenizing; one that must be tokenized is, in a worker thread, while /health keeps
// answering and SIGTERM still ends the server.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { modelFormat, preparePrompt } from '../../lib/server/prompt.js';
import { parseMessagesRequest } from '../../lib/server/anthropic/messagesRequest.js';
import { loadTokenizer } from '../../lib/tokenizer/index.js';
import { MLXK, TINY_KIMI, tmpDir } from '../helpers.js';

interface Served {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function serve(dir: string, ...flags: string[]): Promise<Served> {
  const child = spawn(process.execPath, [MLXK, 'serve', dir, '--alias', `m=${dir}`, '--port', '0', '--quiet', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+) /.exec(err);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`serve exited: ${err}`)));
  });
  return { child, url, exited };
}

/** A Kimi-style request body around `text` (a Buffer, so sending it costs this process nothing). */
function body(text: string): Buffer {
  return Buffer.from(JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: text }] }));
}

interface Answer {
  status: number;
  json: () => Promise<unknown>;
  /** The request's time as its sender measured it. */
  ms: number;
}

/** POSTs from a child process, so sending megabytes does not slow this process's /health polls. */
async function post(url: string, path: string, payload: Buffer): Promise<Answer> {
  const file = join(tmpDir('mlxk-freeze-body-'), 'body.json');
  writeFileSync(file, payload);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(path.startsWith('/v1/messages') ? { 'anthropic-version': '2023-06-01' } : {}) };
  const script = `const b = require('node:fs').readFileSync(${JSON.stringify(file)}); const t = performance.now(); const r = await fetch(${JSON.stringify(url + path)}, { method: 'POST', headers: ${JSON.stringify(headers)}, body: b }); const body = await r.text(); process.stdout.write(JSON.stringify({ status: r.status, body, ms: performance.now() - t }));`;
  const child = spawn(process.execPath, ['--input-type=commonjs', '-e', `(async () => { ${script} })()`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the request failed (exit ${code}): ${out}`);
  const r = JSON.parse(out) as { status: number; body: string; ms: number };
  return { status: r.status, ms: r.ms, json: async () => JSON.parse(r.body) as unknown };
}

/** The slowest /health answer while `work` runs (polled back to back). */
async function healthWhile<T>(url: string, work: Promise<T>): Promise<{ result: T; worstMs: number; polls: number }> {
  let done = false;
  const w = work.finally(() => {
    done = true;
  });
  let worstMs = 0;
  let polls = 0;
  while (!done) {
    const t = performance.now();
    const r = await fetch(`${url}/health`);
    await r.json();
    worstMs = Math.max(worstMs, performance.now() - t);
    polls++;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { result: await w, worstMs, polls };
}

/** The same number of /health polls with nothing else running: what this machine's load allows. */
async function idleWorst(url: string, polls: number): Promise<number> {
  let worst = 0;
  for (let i = 0; i < Math.max(polls, 20); i++) {
    const t = performance.now();
    await (await fetch(`${url}/health`)).json();
    worst = Math.max(worst, performance.now() - t);
    await new Promise((r) => setTimeout(r, 5));
  }
  return worst;
}

/**
 * Runs `attempt` (which returns /health's slowest answer during its request) until that stays
 * under 100 ms (or 2× the idle worst, on a machine where idle polls are already slower), at most
 * three times: other processes on a shared machine cause spikes now and then; a frozen event
 * loop causes them every time.
 */
async function assertResponsive(url: string, what: string, attempt: () => Promise<{ worstMs: number; polls: number }>): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    const a = await attempt();
    const idle = await idleWorst(url, a.polls);
    const limit = Math.max(100, 2 * idle);
    if (a.worstMs < limit) {
      console.log(`${what}: /health worst ${a.worstMs.toFixed(1)} ms over ${a.polls} polls (idle worst ${idle.toFixed(1)} ms; load average ${loadavg().map((x) => x.toFixed(2)).join(' / ')})`);
      return;
    }
    seen.push(`${a.worstMs.toFixed(1)} ms (limit ${limit.toFixed(0)} ms; idle worst ${idle.toFixed(1)} ms)`);
  }
  assert.unreachable(`${what}: /health took ${seen.join(', ')}`);
}

/** Milliseconds `f` takes. */
function timed(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

/** Whitespace-free text: base64, the way minified code and encoded files reach prompts. */
const base64 = (bytes: number) => randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);

test('16 MB of whitespace-free text: 413 in both APIs at the default --max-body; /health keeps answering', async () => {
  const s = await serve(TINY_KIMI);
  try {
    const payload = body(base64(16e6));
    await assertResponsive(s.url, 'Anthropic 413', async () => {
      const a = await healthWhile(s.url, post(s.url, '/v1/messages/count_tokens', payload));
      assert.is(a.result.status, 413);
      const ab = (await a.result.json()) as { type: string; error: { type: string; message: string } };
      assert.is(ab.type, 'error');
      assert.is(ab.error.type, 'request_too_large');
      assert.match(ab.error.message, /larger than this server's limit of 6291456 bytes \(mlxk serve --max-body\)/);
      return a;
    });
    await assertResponsive(s.url, 'OpenAI 413', async () => {
      const o = await healthWhile(s.url, post(s.url, '/v1/chat/completions', payload));
      assert.is(o.result.status, 413);
      const ob = (await o.result.json()) as { error: { type: string; code: string } };
      assert.equal([ob.error.type, ob.error.code], ['invalid_request_error', 'request_too_large']);
      return o;
    });
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

test('a prompt whose bytes alone overflow the context is refused before tokenizing', async () => {
  const s = await serve(TINY_KIMI);
  try {
    // Just under the default limit (6 MiB here): reading and parsing it is the event loop's share.
    const payload = body(base64(6e6));
    await assertResponsive(s.url, 'refused by size', async () => {
      const a = await healthWhile(s.url, post(s.url, '/v1/messages/count_tokens', payload));
      assert.is(a.result.status, 400);
      const ab = (await a.result.json()) as { error: { type: string; message: string } };
      assert.match(ab.error.message, /^prompt is too long: \d+ tokens > 2048 maximum$/);
      // Refused before tokenizing: faster than half of what tokenizing would take, timed in this
      // run on a sixth of the text (tokenizing is linear in it; ~4 s for all of it when idle).
      const tokenizing = 6 * timed(() => loadTokenizer(TINY_KIMI).encode(base64(1e6)));
      assert.ok(a.result.ms < tokenizing / 2, `refused after ${a.result.ms.toFixed(0)} ms; tokenizing takes ~${tokenizing.toFixed(0)} ms`);
      return a;
    });
    const o = await post(s.url, '/v1/chat/completions', payload);
    assert.is(o.status, 413);
    assert.is(((await o.json()) as { error: { code: string } }).error.code, 'context_length_exceeded');
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

/** tiny-kimi with a 4M-token context, so megabytes must really be tokenized. */
function longContextCopy(): string {
  const dir = tmpDir('mlxk-freeze-');
  for (const f of readdirSync(TINY_KIMI)) if (f !== 'config.json') symlinkSync(join(TINY_KIMI, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(TINY_KIMI, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 4 * 2 ** 20 }));
  return dir;
}

test('megabytes that must be tokenized: counted off the event loop, /health answers, SIGTERM ends the server', async () => {
  const dir = longContextCopy();
  const s = await serve(dir);
  try {
    const payload = body(base64(3e6));
    const tok = loadTokenizer(dir);
    const expected = preparePrompt(tok, parseMessagesRequest(JSON.parse(payload.toString()), { countTokens: true }), modelFormat(tok)).ids.length;
    assert.ok(expected > 2e6, `${expected} tokens`);
    let tokenizing = Infinity;
    await assertResponsive(s.url, 'tokenizing', async () => {
      const a = await healthWhile(s.url, post(s.url, '/v1/messages/count_tokens', payload));
      assert.is(a.result.status, 200);
      assert.equal(await a.result.json(), { input_tokens: expected });
      tokenizing = Math.min(tokenizing, a.result.ms);
      return a;
    });
    // Shutdown in the middle of another one.
    const pending = post(s.url, '/v1/messages/count_tokens', payload).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const t = performance.now();
    s.child.kill('SIGTERM');
    assert.is(await s.exited, 0);
    // Without waiting for the count: well under the time that count took in this run.
    assert.ok(performance.now() - t < tokenizing / 2, `exit took ${(performance.now() - t).toFixed(0)} ms; a count takes ${tokenizing.toFixed(0)} ms`);
    await pending;
  } finally {
    s.child.kill('SIGKILL');
  }
});

test.run();

// A stand-in for python/mlx_lm_worker.py, speaking the same protocol (lib/engine/remote/protocol.ts)
// so the mlx-lm engine's own logic (start, health, streaming, cancellation, restart, stop) is
// tested where mlx-lm is not installed. Run as `node standIn.js --model DIR [--fail-start MSG]`.
// Its "model": a scripted token sequence when the test posted one (POST /script), else an echo of
// the prompt's ids (so the text that comes back must equal the prompt: ids round-trip exactly).
// Like the real worker it keeps earlier sequences and reports the longest shared prefix as cached.
// GET /requests returns what it was asked and how each stream ended.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInScript {
  ids: number[];
  /** After the ids: a stop token (default) or the ids again until max_tokens / a cancel. */
  after?: 'stop' | 'repeat';
  /** The process exits (as a crash) before sending the token at this index. */
  dieAt?: number;
  /** Milliseconds between tokens (default 1). */
  delayMs?: number;
}

export interface StandInRecord {
  body: Record<string, unknown> & { prompt: number[]; max_tokens: number };
  cachedTokens: number;
  sent: number;
  ended: 'stop' | 'length' | 'client closed';
}

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (arg('--fail-start') !== undefined) {
  process.stderr.write(`loading ${arg('--model')}\nValueError: ${arg('--fail-start')}\n`);
  process.exit(3);
}

const scripts: StandInScript[] = [];
const records: StandInRecord[] = [];
const kept: number[][] = [];

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function body(req: IncomingMessage): Promise<unknown> {
  let s = '';
  for await (const c of req) s += c;
  return JSON.parse(s);
}

function sharedPrefix(prompt: number[]): number {
  let best = 0;
  for (const k of kept) {
    let n = 0;
    while (n < k.length && n < prompt.length && k[n] === prompt[n]) n++;
    best = Math.max(best, Math.min(n, prompt.length - 1));
  }
  return best;
}

async function generate(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const b = (await body(req)) as StandInRecord['body'];
  if (!Array.isArray(b.prompt) || b.prompt.length === 0) return json(res, 400, { error: 'prompt must be a non-empty array of token ids' });
  const script = scripts.shift();
  const ids = script?.ids ?? b.prompt;
  const rec: StandInRecord = { body: b, cachedTokens: sharedPrefix(b.prompt), sent: 0, ended: 'client closed' };
  records.push(rec);
  res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'close' });
  let closed = false;
  res.on('close', () => (closed = true));
  const send = (e: unknown) => res.write(`data: ${JSON.stringify(e)}\n\n`);
  send({ event: 'prefill', cached_tokens: rec.cachedTokens, total: b.prompt.length });
  const out: number[] = [];
  const top = typeof b.logprobs === 'number' ? b.logprobs : undefined;
  for (let i = 0; ; i++) {
    await new Promise((r) => setTimeout(r, script?.delayMs ?? 1));
    if (closed) break;
    if (i === script?.dieAt) process.exit(1);
    if (out.length >= b.max_tokens) {
      rec.ended = 'length';
      send({ event: 'end', reason: 'length' });
      break;
    }
    if (i >= ids.length && script?.after !== 'repeat') {
      rec.ended = 'stop';
      send({ event: 'end', reason: 'stop' });
      break;
    }
    const id = ids[i % ids.length]!;
    out.push(id);
    rec.sent++;
    send({ event: 'token', id, ...(top !== undefined ? { logprob: -0.25, top: Array.from({ length: top }, (_, k) => [id + k, -0.25 - k]) } : {}) });
  }
  kept.push([...b.prompt, ...out.slice(0, -1)]);
  res.end();
}

let queue = Promise.resolve();
const server = createServer((req, res) => {
  const route = `${req.method} ${req.url}`;
  if (route === 'GET /health') return json(res, 200, { status: 'ok' });
  if (route === 'GET /requests') return json(res, 200, records);
  if (route === 'POST /script') {
    void body(req).then((s) => {
      scripts.push(s as StandInScript);
      json(res, 200, { queued: scripts.length });
    });
    return;
  }
  if (route === 'POST /v1/generate') {
    // One generation at a time, in arrival order, as the worker's single generation thread runs them.
    queue = queue.then(() => generate(req, res)).catch((e: unknown) => json(res, 500, { error: String(e) }));
    return;
  }
  json(res, 404, { error: `no route ${route}` });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, stand_in: true })}\n`);
});
// Like the real worker: gone when mlxk closes our stdin.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));

// `mlxk serve` as a child process, as a user starts it: the startup lines, a request through the
// printed URL with the README's alias for Claude Code, the request log line, SIGINT shutdown;
// and the one-line errors for bad flags.
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MLXK, REPO } from '../helpers.js';

test('mlxk serve: listens on loopback, answers a Claude-style request via a wildcard alias, logs it, stops on SIGINT', async () => {
  const child = spawn(process.execPath, [MLXK, 'serve', 'models/tiny-kimi', '--port', '0', '--alias', 'claude-*=tiny-kimi', '--api-key', 'k1'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line after 20 s:\n${err}`)), 20_000);
    child.stderr.on('data', () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  assert.match(err, /model tiny-kimi, models\/tiny-kimi, .*claude-\*: 0\.02 GiB, context 2048, loaded/);
  const r = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'k1', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-opus-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.is(r.status, 200);
  const body = (await r.json()) as { model: string; usage: { output_tokens: number } };
  assert.is(body.model, 'claude-opus-5');
  assert.ok(body.usage.output_tokens >= 1 && body.usage.output_tokens <= 5);
  assert.is((await fetch(`${url}/v1/models`)).status, 401);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.kill('SIGINT');
  assert.is(await exited, 0);
  assert.match(err, /POST \/v1\/messages \| req_\w+ \| tiny-kimi \| 200 \| prompt \d+ \(0 cached\) \| completion \d+/);
  assert.match(err, /shutting down/);
});

test('mlxk serve: bad flags and models fail with one line naming them', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [MLXK, 'serve', ...args], { cwd: REPO, encoding: 'utf8' });
  const small = run('models/tiny-kimi', '--memory', '10MB', '--prompt-cache-bytes', '1000000');
  assert.is(small.status, 1);
  assert.match(small.stderr, /^mlxk: .*tiny-kimi: its weights take 0\.02 GiB, more than the memory budget of 0\.01 GiB\nhint: raise --memory/);
  assert.match(run('models/tiny-kimi', '--alias', 'noequals').stderr, /--alias expects NAME=MODEL, got "noequals"/);
  assert.match(run('models/tiny-kimi', '--backend', 'cuda').stderr, /--backend must be one of mlx, native, got "cuda"/);
  assert.match(run('models/tiny-kimi', '--max-queue', '-1').stderr, /--max-queue must be an integer ≥ 0, got "-1"/);
  assert.match(run('models/tiny-kimi', '--allowed-hosts', 'a b').stderr, /--allowed-hosts: "a b" is not a host name/);
  assert.match(run('models/tiny-kimi', '--cors-origin', 'localhost:3000').stderr, /--cors-origin: "localhost:3000" is not an origin such as http:\/\/localhost:3000/);
  assert.match(run('/no/such/model').stderr, /\/no\/such\/model: no such directory/);
});

test.run();

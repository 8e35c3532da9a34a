// What a web page in the user's browser can do to the server, sent over raw HTTP as a browser would
// send it: a DNS-rebinding request (the page's own name as Host) is refused on every route; a
// cross-origin "simple" POST (text/plain, form data, no Content-Type: no preflight) is refused
// with 415 before anything runs; a page's Origin is refused unless named by --cors-origin, and
// then a preflight is answered; /health needs the API key and names no local paths by default.
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowedHostsArg, corsOriginsArg } from '../../lib/cli/serve.js';
import { isJsonContentType, isLoopbackName, parseHost } from '../../lib/server/guard.js';
import { TINY_KIMI } from '../helpers.js';
import { type Live, startLive } from './live.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => { error: { message: string; type: string }; type?: string };
}

/** One request with exactly these headers (fetch would not let a test choose Host). */
function raw(live: Live, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: live.server.port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, json: () => JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const chat = JSON.stringify({ model: 'tiny-kimi', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] });

let live: Live;
let host: string;
const decodeSteps = () => live.steps.filter((s) => s.kind === 'decode').length;

test.before(async () => {
  live = await startLive();
  host = `127.0.0.1:${live.server.port}`;
});
test.after(() => live.close());

test('Host names: loopback names and addresses with the bound port pass; others do not', () => {
  assert.equal(parseHost('[::1]:8080'), { name: '::1', port: 8080 });
  assert.equal(parseHost('LocalHost.'), { name: 'localhost', port: undefined });
  assert.is(parseHost('a b'), undefined);
  for (const n of ['localhost', 'app.localhost', '127.0.0.1', '127.1.2.3', '::1']) assert.ok(isLoopbackName(n), n);
  for (const n of ['localhost.evil.example', '127.0.0.1.nip.io', '10.0.0.1', 'evil.example']) assert.not.ok(isLoopbackName(n), n);
  assert.ok(isJsonContentType('application/json; charset=utf-8'));
  assert.ok(isJsonContentType('application/vnd.api+json'));
  for (const t of [undefined, 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) assert.not.ok(isJsonContentType(t), String(t));
});

test('DNS rebinding: a foreign Host is refused (403) on every route, in the API error shape; loopback Hosts are served', async () => {
  const decoded = decodeSteps();
  const rebind = { host: `attacker.example:${live.server.port}`, 'content-type': 'application/json' };
  const o = await raw(live, 'POST', '/v1/chat/completions', rebind, chat);
  assert.is(o.status, 403);
  assert.is(o.json().error.type, 'invalid_request_error');
  assert.match(o.json().error.message, /Host "attacker\.example:\d+" is not allowed.*--allowed-hosts/);
  const a = await raw(live, 'POST', '/v1/messages', rebind, chat);
  assert.is(a.status, 403);
  assert.equal([a.json().type, a.json().error.type], ['error', 'permission_error']);
  for (const path of ['/health', '/v1/models']) assert.is((await raw(live, 'GET', path, { host: 'attacker.example' })).status, 403, path);
  assert.is((await raw(live, 'GET', '/v1/models', { host: 'localhost:1' })).status, 403, 'a loopback name with another port is not this server');
  assert.is((await raw(live, 'GET', '/v1/models', {})).status, 400, 'no Host at all (node refuses an HTTP/1.1 request without one)');
  assert.is(decodeSteps(), decoded, 'nothing was generated');
  for (const h of [host, `localhost:${live.server.port}`, `[::1]:${live.server.port}`]) assert.is((await raw(live, 'GET', '/v1/models', { host: h })).status, 200, h);
});

test('--allowed-hosts names more Hosts (with or without a port); "*" accepts any', async () => {
  const named = await startLive({ allowedHosts: ['mybox.lan', 'other.lan:9000'] });
  const any = await startLive({ allowedHosts: ['*'] });
  try {
    assert.is((await raw(named, 'GET', '/v1/models', { host: 'mybox.lan' })).status, 200);
    assert.is((await raw(named, 'GET', '/v1/models', { host: 'MyBox.lan:1234' })).status, 200);
    assert.is((await raw(named, 'GET', '/v1/models', { host: 'other.lan:9000' })).status, 200);
    assert.is((await raw(named, 'GET', '/v1/models', { host: 'other.lan:9001' })).status, 403);
    assert.is((await raw(named, 'GET', '/v1/models', { host: 'attacker.example' })).status, 403);
    assert.is((await raw(any, 'GET', '/v1/models', { host: 'attacker.example' })).status, 200);
  } finally {
    await named.close();
    await any.close();
  }
  assert.equal(allowedHostsArg(['a.lan,b.lan:8080', ' c ']), ['a.lan', 'b.lan:8080', 'c']);
  assert.throws(() => allowedHostsArg(['a b']), /--allowed-hosts: "a b" is not a host name/);
  assert.throws(() => corsOriginsArg(['localhost:3000']), /--cors-origin: "localhost:3000" is not an origin/);
});

test('a text/plain (or form, or untyped) POST is refused with 415 in each API shape before anything runs', async () => {
  const decoded = decodeSteps();
  for (const [path, type] of [
    ['/v1/chat/completions', 'text/plain;charset=UTF-8'],
    ['/v1/completions', 'application/x-www-form-urlencoded'],
    ['/v1/responses', 'multipart/form-data; boundary=x'],
  ] as const) {
    const r = await raw(live, 'POST', path, { host, 'content-type': type }, chat);
    assert.is(r.status, 415, path);
    assert.equal([r.json().error.type, (r.json().error as { code?: string }).code], ['invalid_request_error', 'unsupported_media_type']);
    assert.match(r.json().error.message, /must be JSON sent as "Content-Type: application\/json"/);
  }
  const a = await raw(live, 'POST', '/v1/messages', { host, 'content-type': 'text/plain' }, chat);
  assert.is(a.status, 415);
  assert.equal([a.json().type, a.json().error.type], ['error', 'invalid_request_error']);
  const untyped = await raw(live, 'POST', '/v1/messages/count_tokens', { host }, chat);
  assert.is(untyped.status, 415);
  assert.match(untyped.json().error.message, /got no Content-Type/);
  assert.is(decodeSteps(), decoded, 'nothing was generated');
  live.scripts.push({ text: 'ok' });
  assert.is((await raw(live, 'POST', '/v1/chat/completions', { host, 'content-type': 'application/json; charset=utf-8' }, chat)).status, 200);
});

test('no CORS by default: a page origin is refused, a preflight gets no CORS headers', async () => {
  const page = { host, origin: 'https://attacker.example' };
  const pre = await raw(live, 'OPTIONS', '/v1/chat/completions', { ...page, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
  assert.is(pre.status, 403);
  assert.is(pre.headers['access-control-allow-origin'], undefined);
  const post = await raw(live, 'POST', '/v1/chat/completions', { ...page, 'content-type': 'application/json' }, chat);
  assert.is(post.status, 403);
  assert.match(post.json().error.message, /requests from web pages are refused \(Origin "https:\/\/attacker\.example"\); start the server with --cors-origin https:\/\/attacker\.example/);
  assert.is(post.headers['access-control-allow-origin'], undefined);
});

test('--cors-origin: the named origin gets a proper preflight and CORS headers; others are still refused', async () => {
  const cors = await startLive({ corsOrigins: ['http://localhost:3000'] });
  try {
    const h = `127.0.0.1:${cors.server.port}`;
    const pre = await raw(cors, 'OPTIONS', '/v1/messages', { host: h, origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key,anthropic-version' });
    assert.is(pre.status, 204);
    assert.is(pre.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.is(pre.headers['access-control-allow-methods'], 'GET, POST, OPTIONS');
    assert.is(pre.headers['access-control-allow-headers'], 'content-type,x-api-key,anthropic-version');
    assert.is(pre.headers.vary, 'Origin');
    cors.scripts.push({ text: 'hi' });
    const post = await raw(cors, 'POST', '/v1/chat/completions', { host: h, origin: 'http://localhost:3000', 'content-type': 'application/json' }, chat);
    assert.is(post.status, 200);
    assert.is(post.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.match(String(post.headers['access-control-expose-headers']), /x-request-id/);
    assert.is((await raw(cors, 'POST', '/v1/chat/completions', { host: h, origin: 'http://localhost:3001', 'content-type': 'application/json' }, chat)).status, 403);
  } finally {
    await cors.close();
  }
});

test('/health: behind the API key when one is set; model directories only with --health-details', async () => {
  const plain = JSON.parse((await raw(live, 'GET', '/health', { host })).body) as { models: Record<string, unknown>[] };
  assert.is(plain.models[0]!.id, 'tiny-kimi');
  assert.not.ok('dir' in plain.models[0]!, 'no local path by default');
  assert.not.ok(JSON.stringify(plain).includes(TINY_KIMI));
  const detailed = await startLive({ healthDetails: true, apiKey: 'k' });
  try {
    const h = `127.0.0.1:${detailed.server.port}`;
    assert.is((await raw(detailed, 'GET', '/health', { host: h })).status, 401);
    const r = JSON.parse((await raw(detailed, 'GET', '/health', { host: h, 'x-api-key': 'k' })).body) as { models: { dir: string }[] };
    assert.is(r.models[0]!.dir, TINY_KIMI);
  } finally {
    await detailed.close();
  }
});

test.run();

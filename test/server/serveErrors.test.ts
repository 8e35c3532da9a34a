// Every error class through the real server, in each API's shape as the official SDKs read it:
// 400 naming the field, 401, 404, context overflow (413 / Anthropic "prompt is too long") and the
// clamp of max_tokens when the prompt fits, 429 / 529 overloaded when the queue is full, and 500
// from an injected failure, after which the server keeps serving.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Live, startLive, until } from './live.js';

let live: Live;
test.before(async () => {
  live = await startLive();
});
test.after(() => live.close());

async function caught(p: Promise<unknown>): Promise<Error & { status?: number; code?: string | null; param?: string | null; type?: string | null; error?: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the request to fail');
}

const user = [{ role: 'user' as const, content: 'x' }];

test('400: invalid fields are named, in both shapes; a body that is not JSON too', async () => {
  const o = await caught(live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, temperature: 3 }));
  assert.instance(o, OpenAI.BadRequestError);
  assert.is(o.param, 'temperature');
  assert.match(o.message, /temperature: must be at most 2/);
  const a = await caught(live.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'http://x/y.png' } }] }] }));
  assert.instance(a, Anthropic.BadRequestError);
  assert.equal((a.error as { error: { type: string } }).error.type, 'invalid_request_error');
  assert.match(a.message, /messages\[0\]\.content\[0\]/);
  for (const [path, shape] of [['/v1/chat/completions', 'openai'], ['/v1/messages', 'anthropic']] as const) {
    const r = await fetch(`${live.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "tiny-kimi", ' });
    assert.is(r.status, 400);
    const body = (await r.json()) as { error: { message: string; type: string }; type?: string };
    if (shape === 'anthropic') assert.is(body.type, 'error');
    assert.is(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /not valid JSON/);
  }
});

test('404: an unknown model lists the served ones; an unknown route says which exist', async () => {
  const o = await caught(live.openai.chat.completions.create({ model: 'gpt-5', messages: user }));
  assert.instance(o, OpenAI.NotFoundError);
  assert.is(o.code, 'model_not_found');
  assert.match(o.message, /"gpt-5" is not served here \(available: tiny-kimi\)/);
  const a = await caught(live.anthropic.messages.create({ model: 'claude-opus-5', max_tokens: 10, messages: user }));
  assert.instance(a, Anthropic.NotFoundError);
  assert.equal((a.error as { error: { type: string } }).error.type, 'not_found_error');
  const r = await fetch(`${live.url}/v1/embeddings`, { method: 'POST', body: '{}' });
  assert.is(r.status, 404);
  assert.match(((await r.json()) as { error: { message: string } }).error.message, /no route POST \/v1\/embeddings/);
});

/** A user message of about `tokens` prompt tokens (calibrated with count_tokens). */
async function longMessage(tokens: number): Promise<string> {
  const unit = 'The quick brown fox jumps over the lazy dog. ';
  const per = (await live.anthropic.messages.countTokens({ model: 'tiny-kimi', messages: [{ role: 'user', content: unit.repeat(100) }] })).input_tokens / 100;
  return unit.repeat(Math.floor(tokens / per));
}

test('context overflow: 413 (OpenAI) and "prompt is too long" (Anthropic); a prompt that fits gets max_tokens clamped', async () => {
  const huge = await longMessage(2300);
  const o = await caught(live.openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: huge }], max_tokens: 10 }));
  assert.is(o.status, 413);
  assert.is(o.code, 'context_length_exceeded');
  assert.match(o.message, /maximum context length is 2048 tokens/);
  const a = await caught(live.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 10, messages: [{ role: 'user', content: huge }] }));
  assert.instance(a, Anthropic.BadRequestError);
  assert.match(a.message, /prompt is too long: \d+ tokens > 2048 maximum/);

  const fits = await longMessage(2000);
  live.scripts.push({ text: ' again', after: 'repeat' });
  const r = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: fits }], max_tokens: 500 });
  assert.is(r.choices[0]!.finish_reason, 'length');
  assert.ok(r.usage!.prompt_tokens < 2048 && r.usage!.prompt_tokens + 500 > 2048, `prompt ${r.usage!.prompt_tokens} fits, prompt + 500 does not`);
  assert.is(r.usage!.prompt_tokens + r.usage!.completion_tokens, 2048, 'the completion filled the context exactly');
});

test('500: an exception inside one request is reported in its API shape and the server keeps serving', async () => {
  live.scripts.push({ text: 'Hello there, how are you', failAt: 3 });
  const plain = await caught(live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user }));
  assert.instance(plain, OpenAI.InternalServerError);
  assert.match(plain.message, /injected failure/);

  live.scripts.push({ text: 'Hello there, how are you', failAt: 3 });
  const stream = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, stream: true });
  let received = '';
  const midStream = await caught(
    (async () => {
      for await (const c of stream) received += c.choices[0]?.delta.content ?? '';
    })(),
  );
  assert.instance(midStream, OpenAI.APIError);
  assert.match(midStream.message, /injected failure/);
  assert.is(received, 'Hello there', 'the three tokens sampled before the failure ("H", "ello", " there") were delivered');

  live.scripts.push({ text: 'Hello there, how are you', failAt: 2 });
  const aStream = live.anthropic.messages.stream({ model: 'tiny-kimi', max_tokens: 50, messages: user });
  const aErr = await caught(aStream.finalMessage());
  assert.instance(aErr, Anthropic.APIError);
  assert.match(aErr.message, /api_error/);

  const health = (await (await fetch(`${live.url}/health`)).json()) as { models: { in_use: number }[]; requests: { active: number } };
  assert.is(health.models[0]!.in_use, 0, 'the failed requests released the model');
  assert.is(health.requests.active, 0);
  live.scripts.push({ text: 'Still here.' });
  const ok = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user });
  assert.is(ok.choices[0]!.message.content, 'Still here.');
  assert.ok(live.logs.some((l) => l.includes(' 500 ') && l.includes('injected failure')), 'the failure is logged with its stack');
});

test('429 (OpenAI) / 529 overloaded_error (Anthropic) when every slot and the queue are taken', async () => {
  const busy = await startLive({ maxActive: 1, maxQueue: 1 });
  try {
    busy.scripts.push({ text: ' busy', after: 'repeat' }, { text: ' waiting', after: 'repeat' });
    const running = new AbortController();
    const queued = new AbortController();
    const a = busy.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, max_tokens: 1500, stream: true }, { signal: running.signal });
    const first = await a;
    const b = await busy.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, max_tokens: 1500, stream: true }, { signal: queued.signal });
    await until(() => busy.server.scheduler.activeCount === 1 && busy.server.scheduler.queuedCount === 1, 5000, 'one running, one queued');
    const o = await caught(busy.openai.chat.completions.create({ model: 'tiny-kimi', messages: user }));
    assert.instance(o, OpenAI.RateLimitError);
    assert.match(o.message, /busy/);
    const an = await caught(busy.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 5, messages: user }));
    assert.is(an.status, 529);
    assert.equal((an.error as { error: { type: string } }).error.type, 'overloaded_error');
    running.abort();
    queued.abort();
    void first;
    void b;
    await until(() => busy.server.scheduler.activeCount === 0 && busy.server.scheduler.queuedCount === 0, 5000, 'both cancelled');
  } finally {
    await busy.close();
  }
});

test('401: with --api-key, requests need it as Bearer or x-api-key; /health too', async () => {
  const locked = await startLive({ apiKey: 'sekret' });
  try {
    locked.scripts.push({ text: 'a' }, { text: 'b' }, { text: 'c' });
    const wrongO = new OpenAI({ apiKey: 'nope', baseURL: `${locked.url}/v1`, maxRetries: 0 });
    const o = await caught(wrongO.chat.completions.create({ model: 'tiny-kimi', messages: user }));
    assert.instance(o, OpenAI.AuthenticationError);
    assert.is(o.code, 'invalid_api_key');
    const wrongA = new Anthropic({ apiKey: 'nope', baseURL: locked.url, maxRetries: 0 });
    const a = await caught(wrongA.messages.create({ model: 'tiny-kimi', max_tokens: 5, messages: user }));
    assert.instance(a, Anthropic.AuthenticationError);
    assert.equal((a.error as { error: { type: string } }).error.type, 'authentication_error');
    const none = await fetch(`${locked.url}/v1/models`);
    assert.is(none.status, 401);
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /needs an API key/);

    assert.is((await locked.openai.chat.completions.create({ model: 'tiny-kimi', messages: user })).choices[0]!.message.content, 'a');
    assert.equal((await locked.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 5, messages: user })).content, [{ type: 'text', text: 'b', citations: null }]);
    const bearer = new Anthropic({ authToken: 'sekret', apiKey: null, baseURL: locked.url, maxRetries: 0 });
    assert.equal((await bearer.messages.create({ model: 'tiny-kimi', max_tokens: 5, messages: user })).content, [{ type: 'text', text: 'c', citations: null }]);
    assert.is((await fetch(`${locked.url}/health`)).status, 401);
    assert.is((await fetch(`${locked.url}/health`, { headers: { authorization: 'Bearer sekret' } })).status, 200);
  } finally {
    await locked.close();
  }
});

test.run();

// Several requests at once on the real server, observed through the scheduler's step events:
// streams interleave token by token and both complete; a long prompt's prefill chunks alternate
// with another request's tokens, and its stream carries keep-alive comments meanwhile; a client
// that disconnects stops its generation, and what it had generated stays in the prompt cache.
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StepEvent } from '../../lib/engine/scheduler.js';
import { type Live, startLive, stepsOf, until } from './live.js';

let live: Live;
test.before(async () => {
  live = await startLive({ prefillChunk: 16 });
});
test.after(() => live.close());

const user = [{ role: 'user' as const, content: 'Tell me a story.' }];

async function health(): Promise<{ models: { in_use: number }[]; requests: { active: number; queued: number }; prompt_cache: { entries: number } }> {
  return (await (await fetch(`${live.url}/health`)).json()) as never;
}

test('two concurrent streams: decode steps alternate one by one and both complete', async () => {
  const a = 'alpha '.repeat(30).trim();
  const b = 'beta '.repeat(30).trim();
  live.scripts.push({ text: a }, { text: b });
  const arrivals: { who: string; at: number }[] = [];
  const run = async (who: string) => {
    const { data, request_id } = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, stream: true }).withResponse();
    let text = '';
    for await (const c of data) {
      const piece = c.choices[0]?.delta.content ?? '';
      if (piece) arrivals.push({ who, at: performance.now() });
      text += piece;
    }
    return { text, id: request_id! };
  };
  const [ra, rb] = await Promise.all([run('a'), run('b')]);
  assert.is(ra.text, a);
  assert.is(rb.text, b);
  const decodes = live.steps.filter((s) => s.kind === 'decode' && (s.task === ra.id || s.task === rb.id)).map((s) => (s.task === ra.id ? 'a' : 'b'));
  const start = Math.max(decodes.indexOf('a'), decodes.indexOf('b'));
  const both = decodes.slice(start, Math.min(decodes.lastIndexOf('a'), decodes.lastIndexOf('b')) + 1);
  assert.ok(both.length > 40, `${both.length} decode steps ran while both were active: ${decodes.join('')}`);
  for (let i = 1; i < both.length; i++) assert.is.not(both[i], both[i - 1], `step ${i} of ${both.join('')}`);
  // Clients see it too: each stream received chunks while the other was still receiving.
  const lastA = Math.max(...arrivals.filter((x) => x.who === 'a').map((x) => x.at));
  const firstB = Math.min(...arrivals.filter((x) => x.who === 'b').map((x) => x.at));
  assert.ok(firstB < lastA, 'b started streaming before a finished');
});

test('a long prompt is prefilled in chunks between the tokens of a running stream, with keep-alive comments', async () => {
  live.scripts.push({ text: ' tick', after: 'repeat' }, { text: 'Done.' });
  const ctl = new AbortController();
  const { data: ticking, request_id: tickId } = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, max_tokens: 1500, stream: true }, { signal: ctl.signal }).withResponse();
  const it = ticking[Symbol.asyncIterator]();
  await it.next();
  const long = 'Explain the following text in detail. '.repeat(30);
  const r = await fetch(`${live.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-kimi', messages: [{ role: 'user', content: long }], stream: true }) });
  assert.is(r.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const raw = await r.text();
  const longId = r.headers.get('x-request-id')!;
  ctl.abort();
  // The role chunk comes first; then comments while the prompt runs, then the answer.
  const firstContent = raw.search(/"content":"[^"]/);
  const comments = raw.slice(0, firstContent).match(/^: prefill \d+\/\d+$/gm) ?? [];
  assert.ok(comments.length >= 5, `keep-alive comments before the first token: ${comments.join(' | ')}`);
  const content = raw
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
    .join('');
  assert.is(content, 'Done.');
  assert.ok(raw.endsWith('data: [DONE]\n\n'));
  const order = live.steps.filter((s) => (s.task === tickId && s.kind === 'decode') || (s.task === longId && s.kind === 'prefill')).map((s) => (s.task === longId ? 'P' : 't'));
  const window = order.slice(order.indexOf('P'), order.lastIndexOf('P') + 1).join('');
  assert.ok(!window.includes('PP'), `prefill chunks never run back to back while the other request decodes: ${window}`);
  assert.ok(stepsOf(live, longId).filter((s) => s.kind === 'prefill').every((s) => s.tokens <= 16));
});

test('a client that disconnects stops its generation; its tokens stay in the prompt cache for a resumed turn', async () => {
  // No leading space: the answer's leading whitespace is not returned, so a client could not send it back.
  live.scripts.push({ text: 'And then the dragon flew away. ', after: 'repeat' });
  const ctl = new AbortController();
  const { data, request_id } = await live.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 1500, messages: user, stream: true }, { signal: ctl.signal }).withResponse();
  let partial = '';
  let inputTokens = 0;
  for await (const e of data) {
    if (e.type === 'message_start') inputTokens = e.message.usage.input_tokens + (e.message.usage.cache_read_input_tokens ?? 0);
    if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') partial += e.delta.text;
    if (partial.length > 100) break;
  }
  ctl.abort();
  await until(() => stepsOf(live, request_id!).some((s: StepEvent) => s.kind === 'end'), 5000, 'the job to end');
  const stepsAtEnd = stepsOf(live, request_id!).length;
  await sleep(300);
  assert.is(stepsOf(live, request_id!).length, stepsAtEnd, 'no steps after the cancellation');
  const decoded = stepsOf(live, request_id!).filter((s) => s.kind === 'decode').length;
  assert.ok(decoded < 200, `generation stopped early (${decoded} of 1500 tokens)`);
  const h = await health();
  assert.is(h.requests.active, 0);
  assert.is(h.models[0]!.in_use, 0, 'the model was released');
  assert.ok(live.logs.some((l) => l.includes(request_id!) && l.includes('client closed the connection')));

  // Resuming: the partial answer sent back as an assistant pre-fill starts from the cached tokens.
  live.scripts.push({ text: ' The end.' });
  const resumed = await live.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 20, messages: [...user, { role: 'assistant', content: partial }] });
  assert.ok((resumed.usage.cache_read_input_tokens ?? 0) > inputTokens + 10, `the generated tokens were reused: ${resumed.usage.cache_read_input_tokens} cached, first prompt ${inputTokens}`);
});

test('a non-streamed request whose client goes away is cancelled too', async () => {
  live.scripts.push({ text: ' more', after: 'repeat' });
  const ctl = new AbortController();
  const pending = live.openai.chat.completions.create({ model: 'tiny-kimi', messages: user, max_tokens: 1500 }, { signal: ctl.signal }).catch((e: Error) => e);
  await until(() => live.server.scheduler.activeCount === 1, 5000, 'the request to start');
  await sleep(50);
  ctl.abort();
  assert.match(String(await pending), /abort/i);
  await until(() => live.server.scheduler.activeCount === 0, 5000, 'the cancellation');
  const last = live.steps[live.steps.length - 1]!;
  assert.is(last.kind, 'end');
  assert.ok(live.steps.filter((s) => s.task === last.task && s.kind === 'decode').length < 1000);
});

test.run();

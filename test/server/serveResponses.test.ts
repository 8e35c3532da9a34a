// POST /v1/responses on the real server: a streamed function call and its follow-up through
// previous_response_id, whose prompt starts from the cached first turn (cached_tokens); a failure
// after the stream began arrives as response.failed with the error in the response.
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Live, startLive, stepsOf } from './live.js';
import { S, E, B, A, C } from '../protocol/kimiMarkers.js';

const shell = { type: 'function' as const, name: 'exec_command', description: 'Run a command', strict: false, parameters: { type: 'object', properties: { cmd: { type: 'string' } }, required: ['cmd'] } };

let live: Live;
test.before(async () => {
  live = await startLive();
});
test.after(() => live.close());

test('a streamed call, then the follow-up by previous_response_id reuses the cached turn', async () => {
  live.scripts.push({ text: `${S}${B}functions.exec_command:0${A}{"cmd": "ls"}${C}${E}` });
  const first = await live.openai.responses.stream({ model: 'tiny-kimi', instructions: 'Use tools.', input: 'list files', tools: [shell] }).finalResponse();
  const call = first.output.find((o) => o.type === 'function_call');
  assert.ok(call?.type === 'function_call');
  assert.equal([call.name, call.arguments], ['exec_command', '{"cmd": "ls"}']);
  const firstPrompt = first.usage!.input_tokens;

  live.scripts.push({ text: 'Two files.' });
  const { data: second, response } = await live.openai.responses
    .create({ model: 'tiny-kimi', instructions: 'Use tools.', previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'a.txt b.txt' }], tools: [shell] })
    .withResponse();
  assert.is(second.output_text, 'Two files.');
  const cached = second.usage!.input_tokens_details.cached_tokens;
  assert.ok(cached >= firstPrompt, `the first turn's prompt (${firstPrompt} tokens) came from the cache, got ${cached}`);
  const prefilled = stepsOf(live, response.headers.get('x-request-id')!).filter((s) => s.kind === 'prefill').reduce((n, s) => n + s.tokens, 0);
  assert.is(prefilled, second.usage!.input_tokens - cached, 'only the new tokens ran');
  const health = (await (await fetch(`${live.url}/health`)).json()) as { stored_responses: { entries: number; bytes: number; cap_bytes: number } };
  assert.is(health.stored_responses.entries, 2, 'both responses are kept for previous_response_id');
  assert.ok(health.stored_responses.bytes > 0 && health.stored_responses.cap_bytes === 64 * 2 ** 20);
});

test('a failure mid-stream is a response.failed event carrying the error', async () => {
  live.scripts.push({ text: 'some words and more words', failAt: 3 });
  const stream = live.openai.responses.stream({ model: 'tiny-kimi', input: 'x' });
  const events: ResponseStreamEvent[] = [];
  stream.on('event', (e) => events.push(e));
  await stream.done();
  const last = events[events.length - 1]!;
  assert.is(last.type, 'response.failed');
  assert.ok(last.type === 'response.failed');
  assert.is(last.response.status, 'failed');
  assert.equal(last.response.error?.code, 'server_error');
  assert.match(last.response.error!.message, /injected failure in the sampler/);
  assert.equal(events.map((e) => e.sequence_number), events.map((_, i) => i));
});

test.run();

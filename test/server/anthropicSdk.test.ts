// @anthropic-ai/sdk (1.12.0) as the judge of our Messages surface: its MessageStream accumulates
// our SSE into a Message (tool inputs from input_json_delta pieces), its types describe our
// objects, its error classes read our error bodies. Model output scripted as in openaiSdk.test.ts.
import Anthropic from '@anthropic-ai/sdk';
import type { Message, MessageParam, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MessageObject, StreamEvent } from '../../lib/server/anthropic/wire.js';
import { contextOverflow, overloaded } from '../../lib/server/errors.js';
import { fakeFetch, scriptSteps, type Exchange, type Script } from './fakeEngine.js';
import { S, E, B, A, C } from '../protocol/kimiMarkers.js';

// Compile-time check: our objects are what the SDK's types describe (ping is not in its union).
export const typeChecks: [(m: MessageObject) => Message, (e: Exclude<StreamEvent, { type: 'ping' }>) => RawMessageStreamEvent] = [(m) => m, (e) => e];

let script: Script = { output: '' };
const log: Exchange[] = [];
const client = new Anthropic({ apiKey: 'local', baseURL: 'http://mlxk.test', maxRetries: 0, fetch: fakeFetch(() => script, log) });
const last = () => log[log.length - 1];

const tools = [
  { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } },
  { name: 'get_time', input_schema: { type: 'object' as const, properties: { tz: { type: 'string' } } } },
];
const TWO_CALLS = `<think>Two lookups.</think>Ich sehe nach.${S}${B}functions.get_weather:0${A}{"city": "東京", "days": [1, 2]}${C}${B}functions.get_time:1${A}{"tz": "Asia/Tokyo"}${C}${E}`;
const weatherId = 'toolu_mlxk_functions_2eget_5fweather_3a0';

test('streamed thinking, text and parallel tool_use blocks accumulate to the non-streamed message', async () => {
  script = { output: TWO_CALLS, cachedTokens: 12 };
  const params = { model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [{ role: 'user' as const, content: 'Weather and time in Tokyo?' }], tools };
  const stream = client.messages.stream(params);
  let inputPieces = 0;
  stream.on('inputJson', () => inputPieces++);
  const streamed = await stream.finalMessage();
  const plain = await client.messages.create(params);
  for (const m of [streamed, plain]) {
    assert.equal(m.content, [
      { type: 'thinking', thinking: 'Two lookups.', signature: '' },
      { type: 'text', text: 'Ich sehe nach.', citations: null },
      { type: 'tool_use', id: weatherId, name: 'get_weather', input: { city: '東京', days: [1, 2] }, caller: { type: 'direct' } },
      { type: 'tool_use', id: 'toolu_mlxk_functions_2eget_5ftime_3a1', name: 'get_time', input: { tz: 'Asia/Tokyo' }, caller: { type: 'direct' } },
    ]);
    assert.is(m.stop_reason, 'tool_use');
    assert.is(m.stop_sequence, null);
    const prompt = last().prepared!.ids.length;
    assert.is(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), prompt);
    assert.is(m.usage.cache_read_input_tokens, 12);
    assert.is(m.usage.output_tokens, scriptSteps(TWO_CALLS).length);
  }
  assert.ok(inputPieces > 4, `tool input streamed in pieces (${inputPieces})`);
});

test('the SSE sequence: message_start, ping, blocks, message_delta, message_stop', async () => {
  script = { output: 'Hi!' };
  const stream = await client.messages.create({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'x' }], stream: true });
  const types: string[] = [];
  for await (const e of stream) types.push(e.type);
  assert.equal(types.filter((t, i) => t !== types[i - 1]), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  assert.ok(last().body.includes('event: ping\ndata: {"type":"ping"}\n\n'));
});

test('tool round trip: tool_use blocks and tool_result blocks sent back render with the ids the model wrote', async () => {
  script = { output: TWO_CALLS };
  const first = await client.messages.create({ model: 'm', max_tokens: 1000, messages: [{ role: 'user', content: 'Tokyo?' }], tools });
  script = { output: 'Sonnig.' };
  const uses = first.content.filter((b) => b.type === 'tool_use');
  const history: MessageParam[] = [
    { role: 'user', content: 'Tokyo?' },
    { role: 'assistant', content: first.content.map((b) => (b.type === 'thinking' ? { type: 'thinking' as const, thinking: b.thinking, signature: b.signature } : b.type === 'text' ? { type: 'text' as const, text: b.text } : b.type === 'tool_use' ? { type: 'tool_use' as const, id: b.id, name: b.name, input: b.input } : { type: 'text' as const, text: '' })) },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: uses[0].type === 'tool_use' ? uses[0].id : '', content: [{ type: 'text', text: 'sunny' }, { type: 'text', text: '21C' }] },
        { type: 'tool_result', tool_use_id: uses[1].type === 'tool_use' ? uses[1].id : '', content: 'no clock', is_error: true },
        { type: 'text', text: 'Summarize.' },
      ],
    },
  ];
  const second = await client.messages.create({ model: 'm', max_tokens: 100, messages: history, tools });
  assert.equal(second.content, [{ type: 'text', text: 'Sonnig.', citations: null }]);
  const msgs = last().request!.prompt.kind === 'chat' ? (last().request!.prompt as { messages: unknown[] }).messages : [];
  assert.equal(msgs.slice(1), [
    {
      role: 'assistant',
      content: 'Ich sehe nach.',
      reasoning_content: 'Two lookups.',
      tool_calls: [
        { id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: { city: '東京', days: [1, 2] } } },
        { id: 'functions.get_time:1', type: 'function', function: { name: 'get_time', arguments: { tz: 'Asia/Tokyo' } } },
      ],
    },
    { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'sunny\n21C' },
    { role: 'tool', tool_call_id: 'functions.get_time:1', content: 'Error: no clock' },
    { role: 'user', content: 'Summarize.' },
  ]);
  const prompt = last().prepared!.text;
  assert.ok(prompt.includes(`${B}functions.get_weather:0${A}{"city": "東京", "days": [1, 2]}${C}`), prompt);
  assert.ok(prompt.includes('## Return of functions.get_weather:0\nsunny\n21C'), prompt);
});

test('stop_sequences: stop_reason stop_sequence names the sequence; max_tokens: stop_reason max_tokens', async () => {
  script = { output: 'Answer: 42\nUser: more' };
  const r = await client.messages.create({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'x' }], stop_sequences: ['\nUser:'] });
  assert.equal(r.content, [{ type: 'text', text: 'Answer: 42', citations: null }]);
  assert.is(r.stop_reason, 'stop_sequence');
  assert.is(r.stop_sequence, '\nUser:');
  script = { output: 'one two three four five six' };
  const cut = await client.messages.create({ model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
  assert.is(cut.stop_reason, 'max_tokens');
  assert.is(cut.usage.output_tokens, 2);
});

test('thinking enabled/disabled reaches the template; a forced tool closes the reasoning first', async () => {
  script = { output: 'ok' };
  await client.messages.create({ model: 'm', max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 }, messages: [{ role: 'user', content: 'x' }] });
  assert.equal(last().request!.thinking, { enabled: true, budgetTokens: 2048 });
  // preparePrompt passes it to the template as thinking / enable_thinking (prompt.test.ts renders K2.5's).
  script = { output: `{"tz": "UTC"}${C}${E}` };
  const r = await client.messages.create({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'x' }], tools, tool_choice: { type: 'tool', name: 'get_time', disable_parallel_tool_use: true } });
  assert.equal(r.content, [{ type: 'tool_use', id: 'toolu_mlxk_functions_2eget_5ftime_3a0', name: 'get_time', input: { tz: 'UTC' }, caller: { type: 'direct' } }]);
  assert.is(last().prepared!.parser.maxToolCalls, 1);
});

test('assistant pre-fill: the reply continues the final assistant text, which is not returned', async () => {
  script = { output: '"a": 1}' };
  const r = await client.messages.create({ model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'JSON please' }, { role: 'assistant', content: '{' }] });
  assert.equal(r.content, [{ type: 'text', text: '"a": 1}', citations: null }]);
  assert.ok(last().prepared!.text.endsWith('<|im_assistant|>assistant<|im_middle|>{'));
});

test('count_tokens answers the prompt length the messages route would prefill', async () => {
  const body = { model: 'm', system: [{ type: 'text' as const, text: 'Be brief.' }], messages: [{ role: 'user' as const, content: 'Hello' }], tools };
  const counted = await client.messages.countTokens(body);
  const counterPrompt = last().prepared!.ids.length;
  script = { output: 'x' };
  await client.messages.create({ ...body, max_tokens: 10 });
  assert.is(counted.input_tokens, counterPrompt);
  assert.is(counted.input_tokens, last().prepared!.ids.length);
});

test('malformed tool arguments: the stream stops forwarding them where they stop being JSON, and the SDK does not throw', async () => {
  // Models do write broken arguments; Claude Code parses each input_json_delta and would abort the stream.
  for (const args of ['van\ngu "}', '{"city": "Lisboa", "days": [1, 2,, 3]}', '{"city": "Lis\\u00zz"}']) {
    script = { output: `Sehe nach.${S}${B}functions.get_weather:0${A}${args}${C}${E}` };
    const params = { model: 'claude-sonnet-5', max_tokens: 1000, messages: [{ role: 'user' as const, content: 'Weather?' }], tools };
    const pieces: string[] = [];
    const stream = client.messages.stream(params);
    stream.on('inputJson', (piece) => pieces.push(piece));
    const streamed = await stream.finalMessage();
    const plain = await client.messages.create(params);
    const forwarded = pieces.join('');
    assert.ok(args.startsWith(forwarded) && forwarded.length < args.length, `only a prefix of ${JSON.stringify(args)} was sent: ${JSON.stringify(forwarded)}`);
    assert.is(streamed.stop_reason, 'tool_use');
    assert.equal(plain.content, streamed.content, 'the non-streamed message holds what the streaming client ended with');
  }
});

test('errors reach the SDK as its classes with Anthropic error types', async () => {
  script = { output: 'x' };
  const bad: [() => Promise<unknown>, string][] = [
    [() => client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }] }] }), 'messages[0].content[0].type'],
    [() => client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'a' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }] }] }] }), 'messages[0].content[0].content[1].type'],
    [() => client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }), 'tools[0].type'],
    [() => client.messages.create({ model: 'm', max_tokens: 1000, thinking: { type: 'enabled', budget_tokens: 1000 }, messages: [{ role: 'user', content: 'x' }] }), 'thinking.budget_tokens'],
    [() => client.messages.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming), 'max_tokens'],
  ];
  for (const [call, path] of bad) {
    try {
      await call();
      assert.unreachable(`expected a 400 for ${path}`);
    } catch (e) {
      assert.instance(e, Anthropic.BadRequestError, String(e));
      const body = (e as InstanceType<typeof Anthropic.BadRequestError>).error as { type: string; error: { type: string; message: string } };
      assert.is(body.type, 'error');
      assert.is(body.error.type, 'invalid_request_error');
      assert.ok(body.error.message.startsWith(`${path}:`), body.error.message);
    }
  }
  script = { output: '', fail: overloaded(3) };
  try {
    await client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    assert.unreachable();
  } catch (e) {
    assert.is((e as InstanceType<typeof Anthropic.APIError>).status, 529);
    assert.is(((e as InstanceType<typeof Anthropic.APIError>).error as { error: { type: string } }).error.type, 'overloaded_error');
  }
  for (const [o, message] of [
    [{ promptTokens: 250000, maxTokens: 1000, contextLength: 200000 }, 'prompt is too long: 250000 tokens > 200000 maximum'],
    [{ promptTokens: 150000, maxTokens: 64000, contextLength: 200000 }, 'input length and `max_tokens` exceed context limit: 150000 + 64000 > 200000, decrease input length or `max_tokens` and try again'],
  ] as const) {
    script = { output: '', fail: contextOverflow(o) };
    try {
      await client.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
      assert.unreachable();
    } catch (e) {
      assert.instance(e, Anthropic.BadRequestError);
      assert.is(((e as InstanceType<typeof Anthropic.APIError>).error as { error: { message: string } }).error.message, message);
    }
  }
});

test.run();

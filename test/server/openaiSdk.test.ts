// The openai SDK (6.30.1) as the judge of our OpenAI surface: it builds the requests, parses our
// JSON and SSE (its Stream and ChatCompletionStream accumulate the chunks and check tool-call
// deltas), and maps our error bodies to its error classes. The model output is scripted in
// tiny-kimi's Kimi format and streamed through its tokenizer (fakeEngine.ts).
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Completion } from 'openai/resources/completions';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiError, contextOverflow, modelNotFound, overloaded } from '../../lib/server/errors.js';
import type { ChatCompletionChunkObject, ChatCompletionObject, CompletionObject } from '../../lib/server/openai/wire.js';
import { fakeFetch, scriptSteps, tok, type Exchange, type Script } from './fakeEngine.js';
import { S, E, B, A, C } from '../protocol/kimiMarkers.js';
import { weatherTool, timeTool } from './openaiTools.js';

// Compile-time check: our wire objects are what the SDK's types describe.
export const typeChecks: [(o: ChatCompletionObject) => ChatCompletion, (o: ChatCompletionChunkObject) => ChatCompletionChunk, (o: CompletionObject) => Completion] = [(o) => o, (o) => o, (o) => o];

let script: Script = { output: '' };
const log: Exchange[] = [];
const client = new OpenAI({ apiKey: 'local', baseURL: 'http://mlxk.test/v1', maxRetries: 0, fetch: fakeFetch(() => script, log) });
const last = () => log[log.length - 1];

const TWO_CALLS = `Ich sehe nach.${S}${B}functions.get_weather:0${A}{"city": "東京"}${C}${B}functions.get_time:1${A}{"tz": "Asia/Tokyo"}${C}${E}`;

test('streamed text: role chunk first, reasoning_content apart from content, usage chunk, [DONE]', async () => {
  script = { output: '<think>The user greets.</think>Hello there!', cachedTokens: 5 };
  const stream = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } });
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta as { content?: string; reasoning_content?: string }));
  assert.is(deltas.map((d) => d.content ?? '').join(''), 'Hello there!');
  assert.is(deltas.map((d) => d.reasoning_content ?? '').join(''), 'The user greets.');
  assert.ok(deltas.filter((d) => d.content).length > 1, 'content arrives in several chunks');
  const finals = chunks.filter((c) => c.choices[0]?.finish_reason);
  assert.equal(finals.map((c) => c.choices[0].finish_reason), ['stop']);
  const usage = chunks[chunks.length - 1];
  assert.equal(usage.choices, []);
  assert.equal(usage.usage, { prompt_tokens: last().prepared!.ids.length, completion_tokens: scriptSteps(script.output).length, total_tokens: last().prepared!.ids.length + scriptSteps(script.output).length, prompt_tokens_details: { cached_tokens: 5 } });
  assert.ok(last().body.endsWith('data: [DONE]\n\n'));
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), 'with include_usage every other chunk has usage: null');
});

test('streamed parallel tool calls accumulate in the SDK to the non-streamed response', async () => {
  script = { output: TWO_CALLS };
  const params = { model: 'tiny-kimi', messages: [{ role: 'user' as const, content: 'Weather and time in Tokyo?' }], tools: [weatherTool, timeTool] };
  const runner = client.chat.completions.stream(params);
  let argumentDeltas = 0;
  runner.on('tool_calls.function.arguments.delta', () => argumentDeltas++);
  const streamed = await runner.finalChatCompletion();
  const plain = await client.chat.completions.create(params);
  for (const c of [streamed, plain]) {
    const choice = c.choices[0];
    assert.is(choice.finish_reason, 'tool_calls');
    assert.is(choice.message.content, 'Ich sehe nach.');
    assert.equal(choice.message.tool_calls, [
      { id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city": "東京"}' } },
      { id: 'functions.get_time:1', type: 'function', function: { name: 'get_time', arguments: '{"tz": "Asia/Tokyo"}' } },
    ]);
  }
  assert.ok(argumentDeltas > 4, `arguments are streamed as they are generated (${argumentDeltas} pieces)`);
});

test('tool round trip: the call the SDK returned, sent back with its result, renders as the model wrote it', async () => {
  script = { output: TWO_CALLS };
  const first = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'Tokyo?' }], tools: [weatherTool, timeTool] });
  const msg = first.choices[0].message;
  script = { output: 'Sonnig, 21 Grad.' };
  const history: ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Tokyo?' },
    msg as ChatCompletionMessageParam,
    { role: 'tool', tool_call_id: msg.tool_calls![0].id, content: 'sunny, 21C' },
    { role: 'tool', tool_call_id: msg.tool_calls![1].id, content: '14:00' },
  ];
  const second = await client.chat.completions.create({ model: 'tiny-kimi', messages: history, tools: [weatherTool, timeTool] });
  assert.is(second.choices[0].message.content, 'Sonnig, 21 Grad.');
  const prompt = last().prepared!.text;
  assert.ok(prompt.includes(`Ich sehe nach.${S}${B}functions.get_weather:0${A}{"city": "東京"}${C}${B}functions.get_time:1${A}{"tz": "Asia/Tokyo"}${C}${E}`), prompt);
  assert.ok(prompt.includes('## Return of functions.get_weather:0\nsunny, 21C'));
  assert.ok(prompt.includes('## Return of functions.get_time:1\n14:00'));
  // The prompt is the one the template renders from the same conversation with the ids as written.
  assert.equal(last().prepared!.ids, tok.encode(prompt, { special: true }));
});

test('a stop sequence ends generation early and is not returned', async () => {
  script = { output: 'First line.\n\nSecond paragraph that must not appear.' };
  const r = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], stop: ['\n\n', 'never'] });
  assert.is(r.choices[0].message.content, 'First line.');
  assert.is(r.choices[0].finish_reason, 'stop');
  assert.is(last().end!.reason, 'stopped');
  assert.ok(last().produced < scriptSteps(script.output).length);
});

test('max_tokens: truncated output reports finish_reason length; a cut character ends as U+FFFD', async () => {
  script = { output: 'one two three four five six seven eight' };
  const r = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 3 });
  assert.is(r.choices[0].finish_reason, 'length');
  assert.is(r.usage?.completion_tokens, 3);
  assert.is(r.choices[0].message.content, tok.decode(scriptSteps(script.output).slice(0, 3).map((s) => s.tokenId)));
  // 東 and 京 are three byte tokens each in tiny-kimi: four tokens end inside 京.
  script = { output: '東京は晴れ' };
  const cut = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 4 });
  assert.is(cut.choices[0].message.content, '東\ufffd');
  assert.is(cut.choices[0].message.content, tok.decode(tok.encode('東京').slice(0, 4)));
});

test('logprobs: one entry per token with the top alternatives, streamed and not', async () => {
  script = { output: 'Hello, 東京!' };
  const steps = scriptSteps(script.output);
  const params = { model: 'tiny-kimi', messages: [{ role: 'user' as const, content: 'x' }], logprobs: true, top_logprobs: 2 };
  const plain = await client.chat.completions.create(params);
  const content = plain.choices[0].logprobs!.content!;
  assert.is(content.length, steps.length);
  assert.equal(content.map((c) => c.logprob), steps.map((s) => s.logprob));
  assert.equal(Buffer.from(content.flatMap((c) => c.bytes!)).toString('utf8'), 'Hello, 東京!');
  assert.is(content[0].top_logprobs.length, 2);
  const stream = await client.chat.completions.create({ ...params, stream: true });
  const streamed = [];
  for await (const c of stream) streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
  assert.equal(streamed, content);
});

test('tool_choice naming a function: the call is forced by pre-filling its opening', async () => {
  script = { output: `{"city": "Oslo"}${C}${E}` };
  const r = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool, timeTool], tool_choice: { type: 'function', function: { name: 'get_weather' } } });
  assert.equal(r.choices[0].message.tool_calls, [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Oslo"}' } }]);
  assert.ok(last().prepared!.text.endsWith(`<|im_assistant|>assistant<|im_middle|>${S}${B}functions.get_weather:0${A}`));
  // "required": the model picks the function; the pre-fill stops at "functions.".
  script = { output: `get_time:0${A}{}${C}${E}` };
  const req = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool, timeTool], tool_choice: 'required' });
  assert.equal(req.choices[0].message.tool_calls?.map((c) => c.type === 'function' && c.function.name), ['get_time']);
});

test('parallel_tool_calls false: generation stops after the first call', async () => {
  script = { output: TWO_CALLS };
  const r = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool, timeTool], parallel_tool_calls: false });
  assert.is(r.choices[0].message.tool_calls?.length, 1);
  assert.is(last().end!.reason, 'stopped');
});

test('a call to an undeclared function is returned and flagged for the log; bad arguments too', async () => {
  script = { output: `${S}${B}functions.rm_rf:0${A}{"path": "/"${C}${E}` };
  const r = await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool] });
  assert.equal(r.choices[0].message.tool_calls, [{ id: 'functions.rm_rf:0', type: 'function', function: { name: 'rm_rf', arguments: '{"path": "/"' } }]);
  assert.equal(last().issues!.map((i) => i.kind), ['unknown_tool', 'invalid_arguments']);
});

test('tool_choice none: tools are not offered, nothing is parsed as a call', async () => {
  script = { output: 'Just text.' };
  await client.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool], tool_choice: 'none' });
  assert.not.ok(last().prepared!.text.includes('tool_declare'));
  assert.is(last().prepared!.parser.toolFormat, undefined);
});

test('request errors reach the SDK as its error classes, naming the field', async () => {
  script = { output: 'x' };
  const cases: [() => Promise<unknown>, string][] = [
    [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:,' } }] }] }), 'messages[0].content[1].type'],
    [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], n: 2 }), 'n'],
    [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } }), 'response_format'],
    [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 3 }), 'temperature'],
    [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }), 'tool_choice.function.name'],
    [() => client.chat.completions.create({ model: 'm', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{bad' } }] }] }), 'messages[0].tool_calls[0].function.arguments'],
    [() => client.chat.completions.create({ model: 'm', messages: [] }), 'messages'],
  ];
  for (const [call, param] of cases) {
    try {
      await call();
      assert.unreachable(`expected a 400 for ${param}`);
    } catch (e) {
      assert.instance(e, OpenAI.BadRequestError, String(e));
      const err = e as InstanceType<typeof OpenAI.BadRequestError>;
      assert.is(err.param, param);
      assert.is(err.type, 'invalid_request_error');
      assert.ok(err.message.includes(param), err.message);
    }
  }
});

test('routing and capacity errors: 404 unknown model, 413 context overflow, 429 busy, 500', async () => {
  const expect = async (fail: unknown, cls: new (...a: never[]) => Error, status: number, code: string | null) => {
    script = { output: '', fail };
    try {
      await client.chat.completions.create({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] });
      assert.unreachable();
    } catch (e) {
      assert.instance(e, cls, String(e));
      assert.is((e as InstanceType<typeof OpenAI.APIError>).status, status);
      assert.is((e as InstanceType<typeof OpenAI.APIError>).code ?? null, code);
    }
  };
  await expect(modelNotFound('claude-x', ['tiny-kimi']), OpenAI.NotFoundError, 404, 'model_not_found');
  await expect(contextOverflow({ promptTokens: 9000, maxTokens: 100, contextLength: 8192 }), OpenAI.APIError, 413, 'context_length_exceeded');
  await expect(overloaded(8), OpenAI.RateLimitError, 429, 'rate_limit_exceeded');
  await expect(new Error('boom'), OpenAI.InternalServerError, 500, null);
  await expect(new ApiError('authentication', 'bad key'), OpenAI.AuthenticationError, 401, 'invalid_api_key');
});

test('completions: text prompt, streamed and not, with legacy logprobs and stop', async () => {
  script = { output: ' Paris is the capital. Berlin' };
  const plain = await client.completions.create({ model: 'tiny-kimi', prompt: 'The capital of France:', max_tokens: 50, logprobs: 1, stop: ['.'] });
  assert.is(plain.choices[0].text, ' Paris is the capital');
  assert.is(plain.choices[0].finish_reason, 'stop');
  const lp = plain.choices[0].logprobs!;
  assert.is(lp.tokens!.join('').startsWith(' Paris is the capital'), true);
  assert.equal(lp.text_offset!.slice(0, 2), [0, lp.tokens![0].length]);
  const stream = await client.completions.create({ model: 'tiny-kimi', prompt: 'The capital of France:', max_tokens: 50, stop: ['.'], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish: string | null = null;
  let usage;
  for await (const c of stream) {
    text += c.choices[0]?.text ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    usage = c.usage ?? usage;
  }
  assert.is(text, ' Paris is the capital');
  assert.is(finish, 'stop');
  assert.is(usage?.prompt_tokens, tok.encode('The capital of France:').length);
  // Default max_tokens is 16, as OpenAI's.
  script = { output: 'a b c d e f g h i j k l m n o p q r s t u v w x y z' };
  const short = await client.completions.create({ model: 'tiny-kimi', prompt: 'x' });
  assert.is(short.usage?.completion_tokens, 16);
  assert.is(short.choices[0].finish_reason, 'length');
});

test.run();

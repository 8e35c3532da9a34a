// The openai SDK (6.30.1) as the judge of POST /v1/responses: its ResponseStream accumulates our
// SSE events (output items, content parts, text/reasoning/argument deltas, sequence numbers) into
// a Response, and its types check our wire objects at compile time. Input items as Codex sends
// them (developer messages, function_call / function_call_output, reasoning with
// encrypted_content), namespaced functions, previous_response_id, and what is refused.
import OpenAI from 'openai';
import type { Response, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { carriedReasoning } from '../../lib/server/carriedReasoning.js';
import { ResponseStore } from '../../lib/server/openai/responseStore.js';
import type { ResponseObject, ResponseStreamEvent as OurEvent } from '../../lib/server/openai/responsesWire.js';
import { fakeFetch, scriptSteps, type Exchange, type Script } from './fakeEngine.js';
import { S, E, B, A, C } from '../protocol/kimiMarkers.js';

// Compile-time check: our wire objects are what the SDK's types describe.
export const typeChecks: [(o: ResponseObject) => Response, (e: OurEvent) => ResponseStreamEvent] = [(o) => o, (e) => e];

let script: Script = { output: '' };
const log: Exchange[] = [];
const client = new OpenAI({ apiKey: 'local', baseURL: 'http://mlxk.test/v1', maxRetries: 0, fetch: fakeFetch(() => script, log) });
const last = () => log[log.length - 1]!;

const shell = { type: 'function' as const, name: 'exec_command', description: 'Run a command', strict: false, parameters: { type: 'object', properties: { cmd: { type: 'string' } }, required: ['cmd'] } };
const CALL = `Running it.${S}${B}functions.exec_command:0${A}{"cmd": "printf mlxk-%s $((6*7))"}${C}${E}`;

test('streamed reasoning and text: the event sequence as the SDK reads it, usage with cached and reasoning tokens', async () => {
  script = { output: '<think>Say hello.</think>Hello there!', cachedTokens: 3 };
  const stream = client.responses.stream({ model: 'kimi', instructions: 'Be brief.', input: 'Hi', reasoning: { effort: 'low', summary: 'auto' } });
  const events: ResponseStreamEvent[] = [];
  stream.on('event', (e) => events.push(e));
  const r = await stream.finalResponse();
  assert.equal(events.map((e) => e.sequence_number), events.map((_, i) => i));
  const types = [...new Set(events.map((e) => e.type))];
  assert.equal(types, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.reasoning_text.delta',
    'response.reasoning_text.done', 'response.content_part.done', 'response.output_item.done', 'response.output_text.delta', 'response.output_text.done', 'response.completed',
  ]);
  assert.is(r.status, 'completed');
  assert.is(r.output_text, 'Hello there!');
  assert.equal(r.output.map((o) => o.type), ['reasoning', 'message']);
  const reasoning = r.output[0]!;
  assert.ok(reasoning.type === 'reasoning');
  assert.equal(reasoning.content, [{ type: 'reasoning_text', text: 'Say hello.' }]);
  assert.equal(reasoning.summary, []);
  assert.is(reasoning.encrypted_content, undefined, 'only with include reasoning.encrypted_content');
  assert.is(r.instructions, 'Be brief.');
  assert.equal(r.reasoning, { effort: 'low', summary: 'auto' });
  const steps = scriptSteps(script.output).length;
  const prompt = last().prepared!.ids.length;
  const reasoningTokens = scriptSteps('Say hello.</think>').length; // the closing marker is reasoning, the opening one is not
  assert.equal(r.usage, { input_tokens: prompt, input_tokens_details: { cached_tokens: 3 }, output_tokens: steps, output_tokens_details: { reasoning_tokens: reasoningTokens }, total_tokens: prompt + steps });
  assert.equal(last().request!.thinking, { enabled: true, budgetTokens: 2048 }, 'effort low → a 2048-token reasoning budget');
  assert.ok(last().prepared!.text.startsWith('<|im_system|>system<|im_middle|>Be brief.<|im_end|><|im_user|>user<|im_middle|>Hi<|im_end|>'));
});

test('function calls stream their arguments; streamed and non-streamed agree', async () => {
  script = { output: CALL };
  const params = { model: 'kimi', input: [{ role: 'user' as const, content: 'run it' }], tools: [shell] };
  const stream = client.responses.stream(params);
  let deltas = 0;
  stream.on('response.function_call_arguments.delta', () => deltas++);
  const streamed = await stream.finalResponse();
  const plain = await client.responses.create(params);
  for (const r of [streamed, plain]) {
    assert.equal(r.output.map((o) => o.type), ['message', 'function_call']);
    const call = r.output[1]!;
    assert.ok(call.type === 'function_call');
    assert.equal([call.call_id, call.name, call.arguments, call.status], ['functions.exec_command:0', 'exec_command', '{"cmd": "printf mlxk-%s $((6*7))"}', 'completed']);
    assert.match(call.id!, /^fc_/);
    assert.is(r.output_text, 'Running it.');
  }
  assert.ok(deltas > 3, `arguments arrive in pieces (${deltas})`);
});

test('a Codex turn: developer messages, the call and its output come back and render as the model wrote them', async () => {
  script = { output: 'It printed mlxk-42.' };
  const r = await client.responses.create({
    model: 'kimi',
    stream: false,
    store: false,
    include: ['reasoning.encrypted_content'],
    tools: [shell, { type: 'web_search', external_web_access: false } as never],
    input: [
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'You are Codex.' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'run it' }] },
      { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'mlxk-reasoning.' + Buffer.from('I should run it.').toString('base64') },
      { type: 'function_call', id: 'fc_1', call_id: 'call_abc', name: 'exec_command', arguments: '{"cmd":"printf x"}' },
      { type: 'function_call_output', call_id: 'call_abc', output: 'Process exited with code 0\nOutput:\nmlxk-42' },
    ],
  } as never);
  assert.is((r as Response).output_text, 'It printed mlxk-42.');
  const req = last().request!;
  assert.ok(req.prompt.kind === 'chat');
  assert.equal(req.prompt.messages, [
    { role: 'system', content: 'You are Codex.' },
    { role: 'user', content: 'run it' },
    { role: 'assistant', content: '', reasoning_content: 'I should run it.', tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'exec_command', arguments: { cmd: 'printf x' }, arguments_text: '{"cmd":"printf x"}' } }] },
    { role: 'tool', tool_call_id: 'call_abc', content: 'Process exited with code 0\nOutput:\nmlxk-42' },
  ]);
  assert.equal(req.prompt.tools.map((t) => t.name), ['exec_command'], 'the hosted web_search tool is not offered to the model');
  const text = last().prepared!.text;
  assert.ok(text.includes(`${S}${B}functions.exec_command:0${A}{"cmd":"printf x"}${C}${E}`), 'a foreign call id is renamed to Kimi\'s form, arguments verbatim');
  assert.ok(text.includes('## Return of functions.exec_command:0\nProcess exited with code 0'));
});

test('reasoning.encrypted_content carries the reasoning to the next turn', async () => {
  script = { output: '<think>Plan.</think>Answer.' };
  const r = await client.responses.create({ model: 'kimi', input: 'q', include: ['reasoning.encrypted_content'], store: false });
  const rs = r.output[0]!;
  assert.ok(rs.type === 'reasoning');
  assert.is(carriedReasoning(rs.encrypted_content!), 'Plan.');
  script = { output: 'ok' };
  await client.responses.create({ model: 'kimi', input: [{ role: 'user', content: 'q' }, ...(r.output as never[]), { role: 'user', content: 'more' }] });
  const req = last().request!;
  assert.ok(req.prompt.kind === 'chat');
  assert.equal(req.prompt.messages[1], { role: 'assistant', content: 'Answer.', reasoning_content: 'Plan.' });
});

test('namespaced functions: the model sees NAMESPACE.NAME, the call carries the namespace', async () => {
  const ns = { type: 'namespace', name: 'agents', description: 'Sub-agents', tools: [{ type: 'function', name: 'spawn', description: 'Start one', parameters: { type: 'object', properties: { task: { type: 'string' } } } }] };
  script = { output: `${S}${B}functions.agents.spawn:0${A}{"task": "t"}${C}${E}` };
  const r = await client.responses.create({ model: 'kimi', input: 'go', tools: [ns as never] });
  const call = r.output[0]!;
  assert.ok(call.type === 'function_call');
  assert.equal([call.name, call.namespace], ['spawn', 'agents']);
  assert.match(last().prepared!.text, /"name": ?"agents\.spawn"/);
  script = { output: 'done' };
  await client.responses.create({ model: 'kimi', input: [{ role: 'user', content: 'go' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'ok' }], tools: [ns as never] });
  const req = last().request!;
  assert.ok(req.prompt.kind === 'chat');
  assert.is(req.prompt.messages[1]!.tool_calls![0]!.function.name, 'agents.spawn');
});

test('previous_response_id continues a stored conversation (without its instructions); unknown ids are a 400', async () => {
  script = { output: CALL };
  const first = await client.responses.create({ model: 'kimi', instructions: 'Old rules.', input: 'run it', tools: [shell] });
  const call = first.output.find((o) => o.type === 'function_call')!;
  assert.ok(call.type === 'function_call');
  script = { output: 'Printed mlxk-42.' };
  const second = await client.responses.create({ model: 'kimi', instructions: 'New rules.', previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'mlxk-42' }], tools: [shell] });
  assert.is(second.previous_response_id, first.id);
  const text = last().prepared!.text;
  assert.not.ok(text.includes('Old rules.'));
  assert.ok(text.startsWith('<|im_system|>tool_declare'));
  assert.ok(text.includes(`<|im_system|>system<|im_middle|>New rules.<|im_end|><|im_user|>user<|im_middle|>run it<|im_end|><|im_assistant|>assistant<|im_middle|>Running it.${S}${B}functions.exec_command:0${A}{"cmd": "printf mlxk-%s $((6*7))"}${C}${E}<|im_end|><|im_system|>tool<|im_middle|>## Return of functions.exec_command:0\nmlxk-42<|im_end|>`), text);
  const err = await client.responses.create({ model: 'kimi', previous_response_id: 'resp_nope', input: 'x' }).catch((e: unknown) => e);
  assert.instance(err, OpenAI.BadRequestError);
  assert.is((err as { param: string }).param, 'previous_response_id');
  const unstored = await client.responses.create({ model: 'kimi', input: 'x', store: false });
  assert.instance(await client.responses.create({ model: 'kimi', previous_response_id: unstored.id, input: 'y' }).catch((e: unknown) => e), OpenAI.BadRequestError, 'store: false keeps nothing');
});

test('max_output_tokens cuts the answer: status incomplete, response.incomplete', async () => {
  script = { output: 'one two three four five six' };
  const plain = await client.responses.create({ model: 'kimi', input: 'x', max_output_tokens: 2 });
  assert.is(plain.status, 'incomplete');
  assert.equal(plain.incomplete_details, { reason: 'max_output_tokens' });
  assert.is(plain.output[0]!.type === 'message' && plain.output[0]!.status, 'incomplete');
  const events: string[] = [];
  const stream = await client.responses.create({ model: 'kimi', input: 'x', max_output_tokens: 2, stream: true });
  for await (const e of stream) events.push(e.type);
  assert.is(events[events.length - 1], 'response.incomplete');
});

test('fields whose meaning cannot be honoured are refused by name', async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ text: { format: { type: 'json_schema', name: 'x', schema: {} } } }, 'text.format', /no constrained decoding/],
    [{ tools: [{ type: 'custom', name: 'apply_patch' }] }, 'tools[0].type', /custom \(free-form\) tools are not supported/],
    [{ tools: [{ type: 'weather_station' }] }, 'tools[0].type', /"weather_station" tools are not supported/],
    [{ tool_choice: { type: 'web_search' }, tools: [shell] }, 'tool_choice.type', /cannot be forced/],
    [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:' }] }] }, 'input[0].content[0].type', /text only/],
    [{ input: [{ type: 'item_reference', id: 'x' }] }, 'input[0].type', /"item_reference" input items are not supported/],
    [{ background: true }, 'background', /not supported/],
    [{ truncation: 'auto' }, 'truncation', /refused, not cut/],
    [{ top_logprobs: 3 }, 'top_logprobs', /chat\/completions/],
    [{ reasoning: { effort: 'extreme' } }, 'reasoning.effort', /expected one of/],
  ];
  for (const [extra, param, message] of cases) {
    const e = (await client.responses.create({ model: 'kimi', input: 'x', ...extra } as never).catch((x: unknown) => x)) as { status: number; param: string; message: string };
    assert.instance(e, OpenAI.BadRequestError, JSON.stringify(extra));
    assert.is(e.param, param);
    assert.match(e.message, message);
  }
  script = { output: 'ok' };
  const accepted = await client.responses.create({ model: 'kimi', input: 'x', metadata: { a: 'b' }, prompt_cache_key: 'k', service_tier: 'auto', user: 'u', text: { verbosity: 'low' }, client_metadata: { x: 1 } } as never);
  assert.equal((accepted as Response).metadata, { a: 'b' });
});

test('the store keeps responses within its byte cap and time, oldest out first', () => {
  let now = 0;
  const store = new ResponseStore({ maxBytes: 200, ttlMs: 1000, now: () => now });
  const msg = (s: string) => [{ role: 'user', content: s }];
  store.put('a', msg('x'.repeat(60)));
  store.put('b', msg('y'.repeat(60)));
  assert.ok(store.get('a') && store.get('b'));
  store.put('c', msg('z'.repeat(60)));
  assert.is(store.get('a'), undefined, 'the oldest went to make room');
  assert.ok(store.get('b') && store.get('c'));
  assert.ok(store.stats.bytes <= 200);
  store.put('huge', msg('h'.repeat(500)));
  assert.is(store.get('huge'), undefined, 'larger than the whole cap: not kept');
  now = 1000;
  assert.is(store.get('b'), undefined, 'expired');
  assert.equal(store.stats, { entries: 0, bytes: 0, capBytes: 200 });
});

test.run();

// Request bodies → GenerationRequest: the translations written out by hand from each API's
// documented shape, and bad bodies answered with a 400 that names the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMessagesRequest } from '../../lib/server/anthropic/messagesRequest.js';
import { ApiError, anthropicError, openaiError } from '../../lib/server/errors.js';
import { parseChatRequest } from '../../lib/server/openai/chatRequest.js';
import { parseCompletionRequest } from '../../lib/server/openai/completionRequest.js';
import { fromAnthropicToolId, toAnthropicToolId } from '../../lib/server/toolIds.js';
import { rng, runSeed } from '../helpers.js';

function fails(fn: () => unknown, param: string, words: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ApiError);
    const err = e as ApiError;
    assert.is(err.kind, 'invalid_request');
    assert.is(err.param, param, err.message);
    assert.ok(err.message.startsWith(`${param}: `), err.message);
    assert.match(err.message, words);
    assert.equal(openaiError(err), { status: 400, body: { error: { message: err.message, type: 'invalid_request_error', param, code: null } } });
    assert.equal(anthropicError(err), { status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: err.message } } });
    return;
  }
  assert.unreachable(`expected a 400 naming ${param}`);
}

test('OpenAI chat: a full conversation in chat-template form', () => {
  const r = parseChatRequest({
    model: 'kimi',
    messages: [
      { role: 'developer', content: 'Be terse.' },
      { role: 'user', content: [{ type: 'text', text: 'Part one.' }, { type: 'text', text: 'Part two.' }], name: 'ann' },
      { role: 'assistant', content: null, reasoning_content: 'thought', tool_calls: [{ id: 'functions.f:0', type: 'function', function: { name: 'f', arguments: '{"x": [1, 2]}' } }] },
      { role: 'tool', tool_call_id: 'functions.f:0', content: [{ type: 'text', text: 'ok' }] },
    ],
    tools: [{ type: 'function', function: { name: 'f', description: 'does f', parameters: { type: 'object' } } }],
    temperature: 0.6,
    top_p: 0.95,
    max_tokens: 100,
    max_completion_tokens: 200,
    stop: 'END',
    seed: 7,
    stream: true,
    stream_options: { include_usage: true },
    logprobs: true,
    top_logprobs: 3,
    parallel_tool_calls: false,
    user: 'ignored',
    metadata: { a: 'b' },
    response_format: { type: 'text' },
    n: 1,
  });
  assert.equal(r, {
    api: 'openai.chat',
    model: 'kimi',
    prompt: {
      kind: 'chat',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'Part one.\nPart two.', name: 'ann' },
        { role: 'assistant', content: '', reasoning_content: 'thought', tool_calls: [{ id: 'functions.f:0', type: 'function', function: { name: 'f', arguments: { x: [1, 2] }, arguments_text: '{"x": [1, 2]}' } }] },
        { role: 'tool', tool_call_id: 'functions.f:0', content: 'ok' },
      ],
      tools: [{ name: 'f', description: 'does f', parameters: { type: 'object' } }],
      templateKwargs: {},
    },
    maxTokens: 200,
    sampling: { temperature: 0.6, topP: 0.95, seed: 7 },
    stop: ['END'],
    stream: true,
    includeUsage: true,
    logprobs: { top: 3 },
    toolChoice: 'auto',
    parallelToolCalls: false,
  });
});

test('OpenAI chat: the SDK sends nulls for unset fields; they count as absent', () => {
  const r = parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: null, stop: null, tools: null, tool_choice: null, max_tokens: null, n: null, logprobs: null });
  assert.equal([r.sampling, r.stop, r.toolChoice, r.maxTokens, r.logprobs], [{}, [], 'auto', undefined, undefined]);
});

test('OpenAI chat: bad fields are named', () => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type', /input_audio.*text parts only/],
    [{ ...base, messages: [{ role: 'function', content: 'x', name: 'f' }] }, 'messages[0].role', /tool/],
    [{ ...base, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id', /required/],
    [{ ...base, messages: [{ role: 'user' }] }, 'messages[0].content', /required/],
    [{ ...base, messages: [{ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '[1]' } }] }] }, 'messages[0].tool_calls[0].function.arguments', /JSON object/],
    [{ ...base, messages: [{ role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{}' } }] }] }, 'messages[0].tool_calls[0].id', /required/],
    [{ messages: base.messages }, 'model', /required/],
    [{ ...base, max_tokens: 0 }, 'max_tokens', /at least 1/],
    [{ ...base, max_completion_tokens: 1.5 }, 'max_completion_tokens', /integer/],
    [{ ...base, top_p: 0 }, 'top_p', /greater than 0/],
    [{ ...base, stop: ['a', ''] }, 'stop[1]', /non-empty/],
    [{ ...base, stop: Array(17).fill('x') }, 'stop', /at most 16/],
    [{ ...base, n: 3 }, 'n', /one choice/],
    [{ ...base, top_logprobs: 2 }, 'top_logprobs', /logprobs/],
    [{ ...base, top_logprobs: 21, logprobs: true }, 'top_logprobs', /at most 20/],
    [{ ...base, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } }, 'response_format', /json_schema.*constrained decoding/],
    [{ ...base, tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type', /custom/],
    [{ ...base, tools: [{ type: 'function', function: { name: 'has space' } }] }, 'tools[0].function.name', /tool name/],
    [{ ...base, tools: [{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'f' } }] }, 'tools[1].function.name', /twice/],
    [{ ...base, tool_choice: 'required' }, 'tool_choice', /no tools/],
    [{ ...base, tool_choice: 'sometimes' }, 'tool_choice', /auto/],
    [{ ...base, logit_bias: { abc: 1 } }, 'logit_bias.abc', /token ids/],
    [{ ...base, functions: [{ name: 'f' }] }, 'functions', /tools/],
    [{ ...base, reasoning_effort: 'extreme' }, 'reasoning_effort', /expected one of/],
    [{ ...base, modalities: ['text', 'audio'] }, 'modalities', /text/],
  ];
  for (const [body, param, words] of cases) fails(() => parseChatRequest(body), param, words);
});

test('OpenAI chat: a body that is not an object is a 400 without a field', () => {
  for (const b of [[], 'x', null, 3]) {
    try {
      parseChatRequest(b);
      assert.unreachable();
    } catch (e) {
      assert.is((e as ApiError).kind, 'invalid_request');
      assert.match((e as ApiError).message, /JSON object/);
    }
  }
});

test('OpenAI chat: tool choices and reasoning effort', () => {
  const tools = [{ type: 'function', function: { name: 'f' } }];
  const base = { model: 'm', messages: [{ role: 'user', content: 'x' }], tools };
  assert.equal(parseChatRequest({ ...base, tool_choice: { type: 'function', function: { name: 'f' } } }).toolChoice, { name: 'f' });
  assert.is(parseChatRequest({ ...base, tool_choice: 'required' }).toolChoice, 'required');
  assert.is(parseChatRequest({ ...base, tool_choice: 'none' }).toolChoice, 'none');
  assert.equal(parseChatRequest({ ...base, reasoning_effort: 'none' }).thinking, { enabled: false });
  assert.equal(parseChatRequest({ ...base, tools: [{ type: 'function', function: { name: 'g' } }] }).prompt, {
    kind: 'chat',
    messages: [{ role: 'user', content: 'x' }],
    tools: [{ name: 'g', parameters: { type: 'object', properties: {} } }],
    templateKwargs: {},
  });
});

test('OpenAI completions: prompt forms and refusals', () => {
  assert.equal(parseCompletionRequest({ model: 'm', prompt: 'hi' }).prompt, { kind: 'text', text: 'hi' });
  assert.equal(parseCompletionRequest({ model: 'm', prompt: ['hi'] }).prompt, { kind: 'text', text: 'hi' });
  assert.equal(parseCompletionRequest({ model: 'm', prompt: [[5, 6]] }).prompt, { kind: 'tokens', ids: [5, 6] });
  assert.equal(parseCompletionRequest({ model: 'm', prompt: [5] }).prompt, { kind: 'tokens', ids: [5] });
  assert.is(parseCompletionRequest({ model: 'm', prompt: 'x' }).maxTokens, 16);
  assert.equal(parseCompletionRequest({ model: 'm', prompt: 'x', logprobs: 2 }).logprobs, { top: 2 });
  fails(() => parseCompletionRequest({ model: 'm', prompt: ['a', 'b'] }), 'prompt', /one prompt/);
  fails(() => parseCompletionRequest({ model: 'm', prompt: 'x', echo: true }), 'echo', /not supported/);
  fails(() => parseCompletionRequest({ model: 'm', prompt: 'x', suffix: 'y' }), 'suffix', /not supported/);
  fails(() => parseCompletionRequest({ model: 'm', prompt: 'x', best_of: 2 }), 'best_of', /one completion/);
  fails(() => parseCompletionRequest({ model: 'm', prompt: 'x', logprobs: 6 }), 'logprobs', /at most 5/);
  fails(() => parseCompletionRequest({ model: 'm' }), 'prompt', /required/);
});

test('Anthropic: system blocks, tool_use/tool_result turns, thinking, choices, stop sequences', () => {
  const r = parseMessagesRequest({
    model: 'claude-sonnet-4-5',
    max_tokens: 2048,
    system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Be brief.' }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'List files.', cache_control: { type: 'ephemeral' } }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'Use ls.', signature: 'sig' }, { type: 'redacted_thinking', data: 'xx' }, { type: 'text', text: 'Listing.' }, { type: 'tool_use', id: 'toolu_01A', name: 'Bash', input: { command: 'ls' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: 'a.txt' }, { type: 'text', text: 'Now?' }] },
    ],
    tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } } } }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    stop_sequences: ['\nHuman:'],
    temperature: 1,
    top_k: 40,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    metadata: { user_id: 'u' },
    stream: true,
  });
  assert.equal(r, {
    api: 'anthropic.messages',
    model: 'claude-sonnet-4-5',
    prompt: {
      kind: 'chat',
      messages: [
        { role: 'system', content: 'You are Claude Code.\nBe brief.' },
        { role: 'user', content: 'List files.' },
        { role: 'assistant', content: 'Listing.', tool_calls: [{ id: 'toolu_01A', type: 'function', function: { name: 'Bash', arguments: { command: 'ls' } } }], reasoning_content: 'Use ls.' },
        { role: 'tool', tool_call_id: 'toolu_01A', content: 'a.txt' },
        { role: 'user', content: 'Now?' },
      ],
      tools: [{ name: 'Bash', description: 'Run a command', parameters: { type: 'object', properties: { command: { type: 'string' } } } }],
      templateKwargs: {},
    },
    maxTokens: 2048,
    sampling: { temperature: 1, topK: 40 },
    stop: ['\nHuman:'],
    stream: true,
    includeUsage: true,
    toolChoice: 'required',
    parallelToolCalls: false,
    thinking: { enabled: true, budgetTokens: 1024 },
  });
});

test('Anthropic: bad fields are named', () => {
  const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] };
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, 'messages[0].content[0].type', /document.*text only/],
    [{ ...base, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role', /user.*assistant.*system/],
    [{ ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'f', input: 'x' }] }, { role: 'user', content: 'y' }] }, 'messages[0].content[0].input', /object/],
    [{ ...base, system: [{ type: 'image' }] }, 'system[0].type', /image/],
    [{ ...base, tools: [{ name: 'f' }] }, 'tools[0].input_schema', /required/],
    [{ ...base, tool_choice: { type: 'tool', name: 'g' }, tools: [{ name: 'f', input_schema: {} }] }, 'tool_choice.name', /not one of/],
    [{ ...base, tool_choice: { type: 'any' } }, 'tool_choice', /no tools/],
    [{ ...base, thinking: { type: 'enabled' } }, 'thinking.budget_tokens', /required/],
    [{ ...base, thinking: { type: 'enabled', budget_tokens: 512 } }, 'thinking.budget_tokens', /at least 1024/],
    [{ ...base, thinking: { type: 'sometimes' } }, 'thinking.type', /enabled/],
    [{ ...base, temperature: 1.5 }, 'temperature', /at most 1/],
    [{ ...base, stop_sequences: [''] }, 'stop_sequences[0]', /non-empty/],
    [{ ...base, output_config: { format: { type: 'json_schema', schema: {} } } }, 'output_config.format', /constrained decoding/],
    [{ ...base, messages: [] }, 'messages', /empty/],
    [{ ...base, max_tokens: 0 }, 'max_tokens', /at least 1/],
  ];
  for (const [body, param, words] of cases) fails(() => parseMessagesRequest(body), param, words);
  // count_tokens needs no max_tokens.
  assert.is(parseMessagesRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { countTokens: true }).maxTokens, undefined);
});

test('Anthropic tool ids: ours round-trip exactly, valid ones pass, foreign ones are left alone', () => {
  assert.is(toAnthropicToolId('functions.get_weather:0'), 'toolu_mlxk_functions_2eget_5fweather_3a0');
  assert.is(fromAnthropicToolId('toolu_mlxk_functions_2eget_5fweather_3a0'), 'functions.get_weather:0');
  assert.is(toAnthropicToolId('call_Ab3'), 'call_Ab3');
  assert.is(fromAnthropicToolId('toolu_01A09q90qw90lq917835lq9'), 'toolu_01A09q90qw90lq917835lq9');
  assert.is(fromAnthropicToolId('toolu_mlxk_bad_zz'), 'toolu_mlxk_bad_zz');
  const seed = runSeed();
  const next = rng(seed);
  const alphabet = ['a', 'Z', '9', '_', '-', '.', ':', ' ', '東', '😀', '%', 'toolu_mlxk_'];
  for (let i = 0; i < 2000; i++) {
    const raw = Array.from({ length: 1 + Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    const id = toAnthropicToolId(raw);
    assert.match(id, /^[a-zA-Z0-9_-]+$/, `seed ${seed}: ${raw}`);
    assert.is(fromAnthropicToolId(id), raw, `seed ${seed}: ${raw}`);
  }
});

test('error shapes: status and type per API for every kind', () => {
  const kinds: [ApiError['kind'], number, string, number, string][] = [
    ['invalid_request', 400, 'invalid_request_error', 400, 'invalid_request_error'],
    ['authentication', 401, 'invalid_request_error', 401, 'authentication_error'],
    ['not_found', 404, 'invalid_request_error', 404, 'not_found_error'],
    ['overloaded', 429, 'rate_limit_error', 529, 'overloaded_error'],
    ['internal', 500, 'server_error', 500, 'api_error'],
  ];
  for (const [kind, oStatus, oType, aStatus, aType] of kinds) {
    const e = new ApiError(kind, 'm');
    assert.equal([openaiError(e).status, openaiError(e).body.error.type], [oStatus, oType]);
    assert.equal([anthropicError(e).status, anthropicError(e).body.error.type], [aStatus, aType]);
  }
  assert.equal(openaiError(new TypeError('x is undefined')), { status: 500, body: { error: { message: 'internal error: x is undefined', type: 'server_error', param: null, code: null } } });
});

test.run();

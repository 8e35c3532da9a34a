// preparePrompt and modelFormat on real chat templates: tiny-kimi's own, the Kimi-K2-Thinking
// template (fixture) with K2.5's generation prompt (kimi.md §4.4 (c): pre-filled "<think>", or
// "<think></think>" with thinking=false), and a Qwen3-style Hermes template over the qwen2 BPE
// fixture. Expectations are the template texts themselves, written out by hand.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { THINK_TAGS } from '../../lib/protocol/reasoning.js';
import { ApiError } from '../../lib/server/errors.js';
import { parseMessagesRequest } from '../../lib/server/anthropic/messagesRequest.js';
import { parseChatRequest } from '../../lib/server/openai/chatRequest.js';
import { parseCompletionRequest } from '../../lib/server/openai/completionRequest.js';
import { modelFormat, preparePrompt, tokenDescriber } from '../../lib/server/prompt.js';
import { startTurn } from '../../lib/server/respond.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import { StreamDecoder } from '../../lib/tokenizer/streamDecoder.js';
import type { Tokenizer } from '../../lib/tokenizer/types.js';
import { REPO, TINY_KIMI, tmpDir } from '../helpers.js';

const tiny = loadTokenizer(TINY_KIMI);

/** tiny-kimi's tokenizer with another chat template. */
function kimiWithTemplate(template: string): Tokenizer {
  const dir = tmpDir();
  for (const f of ['tiktoken.model', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(join(TINY_KIMI, f), join(dir, f));
  writeFileSync(join(dir, 'chat_template.jinja'), template);
  return loadTokenizer(dir);
}

const k2Thinking = readFileSync(join(REPO, 'test/fixtures/templates/kimi-k2-thinking.jinja'), 'utf8');
const k25GenerationPrompt = `{%- if add_generation_prompt -%}
  <|im_assistant|>assistant<|im_middle|>
  {%- if thinking is defined and thinking is false -%}
  <think></think>
  {%- else -%}
  <think>
  {%- endif -%}
{%- endif -%}`;
const k25 = kimiWithTemplate(k2Thinking.replace(/\{%- if add_generation_prompt -%\}[\s\S]*\{%- endif -%\}\s*$/, k25GenerationPrompt));

function run(tok: Tokenizer, format: ReturnType<typeof modelFormat>, body: unknown, output: string, api: 'chat' | 'messages' = 'chat') {
  const req = api === 'chat' ? parseChatRequest(body) : parseMessagesRequest(body);
  const prepared = preparePrompt(tok, req, format);
  let n = 0;
  const turn = startTurn(req, prepared, { describeToken: tokenDescriber(tok), newCallId: () => `call_${n++}` });
  turn.begin({ promptTokens: prepared.ids.length, cachedTokens: 0 });
  const d = new StreamDecoder(tok);
  for (const id of tok.encode(output, { special: true })) turn.step({ tokenId: id, text: d.push(id) });
  const [json] = turn.end({ reason: 'eos', usage: { promptTokens: prepared.ids.length, completionTokens: 1, cachedTokens: 0 } });
  return { prepared, response: JSON.parse(json) };
}

test('tiny-kimi: Kimi tool calls and <think> reasoning are recognized from its template and vocabulary', () => {
  assert.equal(modelFormat(tiny), { tools: 'kimi_k2', reasoning: THINK_TAGS });
  assert.equal(modelFormat(tiny, null), { reasoning: THINK_TAGS });
  assert.equal(modelFormat(tiny, 'hermes').tools, 'hermes');
});

test('K2.5: the pre-filled <think> starts the output in reasoning; thinking=false does not', () => {
  const f = modelFormat(k25);
  const on = run(k25, f, { model: 'm', messages: [{ role: 'user', content: 'Hi' }] }, 'Greeting.</think>Hello!');
  assert.ok(on.prepared.text.endsWith('<|im_assistant|>assistant<|im_middle|><think>'));
  assert.is(on.prepared.parser.startInReasoning, true);
  assert.is(on.response.choices[0].message.reasoning_content, 'Greeting.');
  assert.is(on.response.choices[0].message.content, 'Hello!');
  const off = run(k25, f, { model: 'm', messages: [{ role: 'user', content: 'Hi' }], chat_template_kwargs: { thinking: false } }, 'Hello!');
  assert.ok(off.prepared.text.endsWith('<think></think>'));
  assert.is(off.prepared.parser.startInReasoning, false);
  const anthropicOff = run(k25, f, { model: 'm', max_tokens: 10, thinking: { type: 'disabled' }, messages: [{ role: 'user', content: 'Hi' }] }, 'Hello!', 'messages');
  assert.ok(anthropicOff.prepared.text.endsWith('<think></think>'));
  assert.equal(anthropicOff.response.content, [{ type: 'text', text: 'Hello!', citations: null }]);
});

test('K2.5: a forced tool call closes the open reasoning first; reasoning in the tool loop is kept for the template', () => {
  const f = modelFormat(k25);
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const messages = [
    { role: 'user', content: 'Weather?' },
    { role: 'assistant', content: '', reasoning_content: 'Need the city first.', tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'rain' },
  ];
  const r = run(k25, f, { model: 'm', messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } }, '{"city":"Bergen"}<|tool_call_end|><|tool_calls_section_end|>');
  assert.ok(r.prepared.text.endsWith('<think></think><|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:1<|tool_call_argument_begin|>'), r.prepared.text);
  // The suffix assistant turn keeps its reasoning and its arguments exactly as sent.
  assert.ok(r.prepared.text.includes('<think>Need the city first.</think><|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city":"Oslo"}<|tool_call_end|>'), r.prepared.text);
  assert.ok(r.prepared.text.includes('## Return of functions.get_weather:0\nrain'));
  assert.equal(r.response.choices[0].message.tool_calls, [{ id: 'functions.get_weather:1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Bergen"}' } }]);
  assert.is(r.response.choices[0].message.reasoning_content, undefined);
  assert.is(r.response.choices[0].finish_reason, 'tool_calls');
});

test('ids from another model are given Kimi ids, numbered across the conversation, results follow', () => {
  const messages = [
    { role: 'user', content: 'a' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'f', arguments: '{}' } }, { id: 'functions.g:1', type: 'function', function: { name: 'g', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_abc', content: 'A' },
    { role: 'tool', tool_call_id: 'functions.g:1', content: 'G' },
  ];
  const req = parseChatRequest({ model: 'm', messages, tools: [{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'g' } }] });
  const text = preparePrompt(tiny, req, modelFormat(tiny)).text;
  assert.ok(text.includes('<|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_call_begin|>functions.g:1<|tool_call_argument_begin|>{}'), text);
  assert.ok(text.includes('## Return of functions.f:0\nA') && text.includes('## Return of functions.g:1\nG'), text);
});

// A Qwen3-style template: tools in <tools></tools>, calls as <tool_call> JSON, results in <tool_response>.
const QWEN_TEMPLATE = `{%- if tools %}<|im_start|>system
# Tools
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>
For each function call, return a json object within <tool_call></tool_call> tags.<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'assistant' %}<|im_start|>assistant
{{ message.content }}
{%- for tool_call in message.tool_calls or [] %}
<tool_call>
{"name": "{{ tool_call.function.name }}", "arguments": {{ tool_call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

test('a Qwen3-style template: Hermes <tool_call> JSON is recognized; calls parse, made-up ids round-trip', () => {
  const dir = tmpDir();
  copyFileSync(join(REPO, 'test/fixtures/tokenizers/qwen2/tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: QWEN_TEMPLATE, eos_token: '<|im_end|>' }));
  const qwen = loadTokenizer(dir);
  const f = modelFormat(qwen);
  assert.equal(f, { tools: 'hermes', reasoning: THINK_TAGS });
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const out = '<think>\nCall it.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
  const r = run(qwen, f, { model: 'm', messages: [{ role: 'user', content: 'Weather?' }], tools }, out);
  assert.equal(r.response.choices[0].message, {
    role: 'assistant',
    content: null,
    refusal: null,
    reasoning_content: 'Call it.',
    tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
  });
  const back = run(qwen, f, { model: 'm', messages: [{ role: 'user', content: 'Weather?' }, r.response.choices[0].message, { role: 'tool', tool_call_id: 'call_0', content: 'sunny' }], tools }, 'Sunny.');
  assert.ok(back.prepared.text.includes('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'), back.prepared.text);
  assert.ok(back.prepared.text.includes('<tool_response>\nsunny\n</tool_response>'));
});

test('tools for a model whose tool-call format is unknown are refused, not ignored', () => {
  const req = parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }] });
  try {
    preparePrompt(tiny, req, { reasoning: THINK_TAGS });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ApiError);
    assert.is((e as ApiError).param, 'tools');
  }
});

test('completions prompts: text with special tokens, token ids checked against the vocabulary', () => {
  const text = preparePrompt(tiny, parseCompletionRequest({ model: 'm', prompt: 'a<|im_end|>b' }), {});
  assert.ok(text.ids.includes(tiny.tokenToId('<|im_end|>')!));
  const ids = preparePrompt(tiny, parseCompletionRequest({ model: 'm', prompt: [1, 2, 3] }), {});
  assert.equal(ids.ids, [1, 2, 3]);
  try {
    preparePrompt(tiny, parseCompletionRequest({ model: 'm', prompt: [1, 99999] }), {});
    assert.unreachable();
  } catch (e) {
    assert.is((e as ApiError).param, 'prompt[1]');
  }
});

test.run();

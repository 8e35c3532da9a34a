// The Kimi-K2-Instruct-0905 and K2-Thinking chat templates (test/fixtures/templates, quoted in
// kimi.md §4.4) rendered on conversations whose expected text was worked out by reading the
// templates (trim_blocks + lstrip_blocks, Python json.dumps spacing for tojson).
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatTemplate } from '../../lib/tokenizer/chatTemplate.js';
import type { ChatMessage } from '../../lib/tokenizer/types.js';

const fixture = (name: string) => new URL(`../../../test/fixtures/templates/${name}`, import.meta.url).pathname;
const load = (name: string, sortTools = false) => ChatTemplate.fromText(readFileSync(fixture(name), 'utf8'), fixture(name), {}, { sortTools });

const K2_0905 = 'kimi-k2-instruct-0905.jinja';
const K2_THINKING = 'kimi-k2-thinking.jinja';
const DEFAULT_SYSTEM = '<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>';

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const weatherJson =
  '[{"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]';
const weatherJsonCompact =
  '[{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]';

function toolLoop(args: string | Record<string, unknown>): ChatMessage[] {
  return [
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant',
      content: '',
      tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: args } }],
    },
    { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'Sunny, 21C' },
  ];
}

test('K2-0905: tool declaration, default system prompt, tool call and tool result', () => {
  const expected =
    `<|im_system|>tool_declare<|im_middle|>\n  # Tools\n  ${weatherJson}<|im_end|>` +
    DEFAULT_SYSTEM +
    '<|im_user|>user<|im_middle|>Weather in Paris?<|im_end|>' +
    '<|im_assistant|>assistant<|im_middle|><|tool_calls_section_begin|>' +
    '<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|>' +
    '<|tool_calls_section_end|><|im_end|>' +
    '<|im_system|>tool<|im_middle|>## Return of functions.get_weather:0\n    Sunny, 21C<|im_end|>' +
    '<|im_assistant|>assistant<|im_middle|>';
  const t = load(K2_0905);
  assert.is(t.render(toolLoop('{"city": "Paris"}'), { tools: [weatherTool], addGenerationPrompt: true }), expected);
  // Arguments given as an object go through tojson: same text.
  assert.is(t.render(toolLoop({ city: 'Paris' }), { tools: [weatherTool], addGenerationPrompt: true }), expected);
});

test('K2-0905: own system prompt, content parts with an image, named assistant, no generation prompt', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Hi ' },
        { type: 'text', text: 'there' },
        { type: 'image_url', image_url: { url: 'data:,' } },
      ],
    },
    { role: 'assistant', name: 'Kimi', content: 'Hello!' },
  ];
  assert.is(
    load(K2_0905).render(messages, { addGenerationPrompt: false }),
    '<|im_system|>system<|im_middle|>Be brief.<|im_end|>' +
      '<|im_user|>user<|im_middle|>Hi there<|media_start|>image<|media_content|><|media_pad|><|media_end|>\n<|im_end|>' +
      // The last message has no <|im_end|> without a generation prompt (continuation / prefill).
      '<|im_assistant|>Kimi<|im_middle|>Hello!',
  );
});

test('K2-Thinking: compact tool JSON, history loses reasoning, the open tool loop keeps it', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are helpful.' },
    { role: 'user', content: 'Weather in Paris?' },
    {
      role: 'assistant',
      reasoning_content: 'old thoughts',
      content: 'Let me check.',
      tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }],
    },
    { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'Sunny' },
    { role: 'assistant', reasoning_content: 'r1', content: 'It is sunny.' },
    { role: 'user', content: 'And Rome?' },
    {
      role: 'assistant',
      reasoning_content: 'need tool',
      content: '',
      tool_calls: [{ id: 'functions.get_weather:1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }],
    },
    { role: 'tool', name: 'get_weather', tool_call_id: 'functions.get_weather:1', content: 'Rainy' },
  ];
  const expected =
    `<|im_system|>tool_declare<|im_middle|>${weatherJsonCompact}<|im_end|>` +
    '<|im_system|>system<|im_middle|>You are helpful.<|im_end|>' +
    '<|im_user|>user<|im_middle|>Weather in Paris?<|im_end|>' +
    '<|im_assistant|>assistant<|im_middle|><think></think>Let me check.<|tool_calls_section_begin|>' +
    '<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|><|im_end|>' +
    '<|im_system|>tool<|im_middle|>## Return of functions.get_weather:0\nSunny<|im_end|>' +
    '<|im_assistant|>assistant<|im_middle|><think></think>It is sunny.<|im_end|>' +
    '<|im_user|>user<|im_middle|>And Rome?<|im_end|>' +
    '<|im_assistant|>assistant<|im_middle|><think>need tool</think><|tool_calls_section_begin|>' +
    '<|tool_call_begin|>functions.get_weather:1<|tool_call_argument_begin|>{"city":"Rome"}<|tool_call_end|><|tool_calls_section_end|><|im_end|>' +
    '<|im_system|>get_weather<|im_middle|>## Return of functions.get_weather:1\nRainy<|im_end|>' +
    '<|im_assistant|>assistant<|im_middle|>';
  assert.is(load(K2_THINKING).render(messages, { tools: [weatherTool], addGenerationPrompt: true }), expected);
});

test('K2-Thinking: default system prompt, also for an empty conversation', () => {
  const t = load(K2_THINKING);
  assert.is(t.render([{ role: 'user', content: 'Hi' }]), `${DEFAULT_SYSTEM}<|im_user|>user<|im_middle|>Hi<|im_end|><|im_assistant|>assistant<|im_middle|>`);
  assert.is(t.render([], { addGenerationPrompt: true }), `${DEFAULT_SYSTEM}<|im_assistant|>assistant<|im_middle|>`);
  assert.is(t.render([], { addGenerationPrompt: false }), DEFAULT_SYSTEM);
});

test('tool definitions are key-sorted when the model sorts them (tokenization_kimi.py deep_sort_dict)', () => {
  const sorted =
    '[{"function": {"description": "Get weather", "name": "get_weather", "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}}, "type": "function"}]';
  const out = load(K2_0905, true).render([{ role: 'user', content: 'x' }], { tools: [weatherTool] });
  assert.ok(out.startsWith(`<|im_system|>tool_declare<|im_middle|>\n  # Tools\n  ${sorted}<|im_end|>`), out.slice(0, 300));
});

test.run();

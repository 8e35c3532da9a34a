// Choosing the parser from what a chat template writes, and the pre-fill that forces a tool call
// (its text written out by hand from each format; fed to the parser it must report the call).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forcedCallPrefix } from '../../lib/protocol/forcedCall.js';
import { randomCallId } from '../../lib/protocol/ids.js';
import { THINK_TAGS } from '../../lib/protocol/reasoning.js';
import { inferReasoning, inferToolFormat, parseToolFormat, promptOpensReasoning } from '../../lib/protocol/select.js';
import { parseChunks } from './splits.js';

const none = () => false;

test('tool-call format from template text (as mlx-lm _infer_tool_parser) or the vocabulary', () => {
  assert.is(inferToolFormat({ template: '<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0', hasToken: none }), 'kimi_k2');
  assert.is(inferToolFormat({ template: 'plain', hasToken: (t) => t === '<|tool_calls_section_begin|>' }), 'kimi_k2');
  assert.is(inferToolFormat({ template: '<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>', hasToken: none }), 'qwen3_coder');
  assert.is(inferToolFormat({ template: '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>', hasToken: none }), 'hermes');
  assert.is(inferToolFormat({ template: 'no tools here', hasToken: none }), undefined);
  assert.is(inferToolFormat({ hasToken: none }), undefined);
});

test('reasoning markers from the vocabulary or template; the prompt leaves reasoning open or not', () => {
  assert.equal(inferReasoning({ hasToken: (t) => t === '<think>' || t === '</think>' }), THINK_TAGS);
  assert.equal(inferReasoning({ template: '{{ "<think>" }}…</think>', hasToken: none }), THINK_TAGS);
  assert.is(inferReasoning({ template: 'x', hasToken: (t) => t === '<think>' }), undefined);
  assert.is(promptOpensReasoning('<|im_assistant|>assistant<|im_middle|><think>', THINK_TAGS), true);
  assert.is(promptOpensReasoning('<think></think>', THINK_TAGS), false);
  assert.is(promptOpensReasoning('<think>a</think>b<think>', THINK_TAGS), true);
  assert.is(promptOpensReasoning('no markers', THINK_TAGS), false);
});

test('--tool-parser values', () => {
  assert.is(parseToolFormat('hermes'), 'hermes');
  assert.is(parseToolFormat('none'), null);
  assert.throws(() => parseToolFormat('mistral'), /"mistral" is not known \(expected one of: kimi_k2, hermes, qwen3_coder, none\)/);
});

test('forced-call pre-fills per format, and what the parser makes of them', () => {
  assert.is(forcedCallPrefix('kimi_k2', { name: 'get_weather', kimiIndex: 3 }), '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:3<|tool_call_argument_begin|>');
  assert.is(forcedCallPrefix('kimi_k2', { kimiIndex: 3, closeReasoning: THINK_TAGS }), '</think><|tool_calls_section_begin|><|tool_call_begin|>functions.');
  assert.is(forcedCallPrefix('hermes', { name: 'f', kimiIndex: 0 }), '<tool_call>\n{"name": "f", "arguments": ');
  assert.is(forcedCallPrefix('hermes', { kimiIndex: 0 }), '<tool_call>\n{"name": "');
  assert.is(forcedCallPrefix('qwen3_coder', { name: 'f', kimiIndex: 0 }), '<tool_call>\n<function=f>\n');
  assert.is(forcedCallPrefix('qwen3_coder', { kimiIndex: 0 }), '<tool_call>\n<function=');

  const kimi = parseChunks(['{"a":', ' 1}<|tool_call_end|>', '<|tool_calls_section_end|>'], { toolFormat: 'kimi_k2', reasoning: THINK_TAGS, startInReasoning: true, prefill: forcedCallPrefix('kimi_k2', { name: 'f', kimiIndex: 0, closeReasoning: THINK_TAGS }) });
  assert.equal(kimi.events, [
    { type: 'tool_call_start', index: 0, id: 'functions.f:0', name: 'f' },
    { type: 'tool_call_delta', index: 0, arguments: '{"a": 1}' },
    { type: 'tool_call_end', index: 0 },
  ]);
  const hermes = parseChunks(['g", "arguments": {}}\n</tool_call>'], { toolFormat: 'hermes', prefill: forcedCallPrefix('hermes', { kimiIndex: 0 }) });
  assert.equal(hermes.events.slice(0, 2), [
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'g' },
    { type: 'tool_call_delta', index: 0, arguments: '{}' },
  ]);
  const coder = parseChunks(['<parameter=x>\n5\n</parameter>\n</function>\n</tool_call>'], { toolFormat: 'qwen3_coder', tools: [{ name: 'f', parameters: { properties: { x: { type: 'integer' } } } }], prefill: forcedCallPrefix('qwen3_coder', { name: 'f', kimiIndex: 0 }) });
  assert.equal(coder.events[1], { type: 'tool_call_delta', index: 0, arguments: '{"x": 5}' });
});

test('made-up call ids look like OpenAI ids and differ', () => {
  const a = randomCallId();
  assert.match(a, /^call_[A-Za-z0-9]{24}$/);
  assert.is.not(a, randomCallId());
});

test.run();

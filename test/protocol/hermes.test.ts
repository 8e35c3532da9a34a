// Hermes/Qwen <tool_call> JSON and Qwen3-Coder XML tool calls on hand-written outputs (the formats
// of the Qwen2.5/Qwen3 and Qwen3-Coder chat templates), each under every cutting of its text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { THINK_TAGS } from '../../lib/protocol/reasoning.js';
import { typedValue } from '../../lib/protocol/qwen3Coder.js';
import { runSeed } from '../helpers.js';
import { sameUnderEveryCut } from './splits.js';

const seed = runSeed();
const hermes = { toolFormat: 'hermes' as const };
const coder = { toolFormat: 'qwen3_coder' as const };

test('Hermes: two parallel calls after some text; ids made up per call; arguments streamed raw', () => {
  const out = 'I will look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}\n</tool_call>\n<tool_call>\n{"name":"get_time","arguments":{}}\n</tool_call>';
  const r = sameUnderEveryCut(out, hermes, seed);
  assert.equal(r.events, [
    { type: 'text', text: 'I will look.' },
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'get_weather' },
    { type: 'tool_call_delta', index: 0, arguments: '{"city": "Paris", "days": [1, 2]}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'tool_call_start', index: 1, id: 'call_1', name: 'get_time' },
    { type: 'tool_call_delta', index: 1, arguments: '{}' },
    { type: 'tool_call_end', index: 1 },
  ]);
  assert.equal(r.issues, []);
});

test('Hermes: braces and quotes inside strings do not end the arguments early', () => {
  const args = '{"code": "if (a) { return \\"}\\"; }", "n": -1.5e3, "ok": true, "none": null}';
  const r = sameUnderEveryCut(`<tool_call>{"name": "run", "arguments": ${args}}</tool_call>`, hermes, seed);
  assert.equal(r.events[1], { type: 'tool_call_delta', index: 0, arguments: args });
  assert.equal(JSON.parse((r.events[1] as { arguments: string }).arguments).code, 'if (a) { return "}"; }');
});

test('Hermes: arguments before the name, arguments as a JSON string, "parameters" spelling', () => {
  const a = sameUnderEveryCut('<tool_call>{"arguments": {"x": 1}, "name": "f"}</tool_call>', hermes, seed);
  assert.equal(a.events.slice(0, 2), [
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'f' },
    { type: 'tool_call_delta', index: 0, arguments: '{"x": 1}' },
  ]);
  const b = sameUnderEveryCut('<tool_call>{"name": "f", "arguments": "{\\"x\\": 1}"}</tool_call>', hermes, seed);
  assert.equal(b.events[1], { type: 'tool_call_delta', index: 0, arguments: '{"x": 1}' });
  const c = sameUnderEveryCut('<tool_call>{"name": "f", "parameters": {"y": 2}}</tool_call>', hermes, seed);
  assert.equal(c.events[1], { type: 'tool_call_delta', index: 0, arguments: '{"y": 2}' });
  const d = sameUnderEveryCut('<tool_call>{"name": "f", "arguments": null}</tool_call>', hermes, seed);
  assert.equal(d.events[1], { type: 'tool_call_delta', index: 0, arguments: '{}' });
});

test('Hermes: a block that is not a call stays text and is reported', () => {
  const r = sameUnderEveryCut('See <tool_call>not json</tool_call> here', hermes, seed);
  assert.equal(r.events, [{ type: 'text', text: 'See <tool_call>not json</tool_call> here' }]);
  assert.equal(r.issues.map((i) => i.kind), ['malformed_call']);
});

test('Hermes: truncated arguments close the call and are reported', () => {
  const r = sameUnderEveryCut('<tool_call>{"name": "f", "arguments": {"a": "unfinish', hermes, seed);
  assert.equal(r.events, [
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'f' },
    { type: 'tool_call_delta', index: 0, arguments: '{"a": "unfinish' },
    { type: 'tool_call_end', index: 0 },
  ]);
  assert.equal(r.issues.map((i) => i.kind), ['unterminated_call', 'invalid_arguments']);
});

test('Hermes with Qwen3 reasoning: <think> block, then answer and a call', () => {
  const out = '<think>\nNeed data.\n</think>\n\nChecking.\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>';
  const r = sameUnderEveryCut(out, { ...hermes, reasoning: THINK_TAGS }, seed);
  assert.equal(r.events.slice(0, 3), [
    { type: 'reasoning', text: 'Need data.' },
    { type: 'text', text: 'Checking.' },
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'f' },
  ]);
});

const weatherTool = {
  name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, metric: { type: 'boolean' }, zip: { type: 'string' } } },
};

test('Qwen3-Coder: parameters become JSON by their declared types', () => {
  const out = 'Let me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=metric>\ntrue\n</parameter>\n<parameter=zip>\n10001\n</parameter>\n</function>\n</tool_call>';
  const r = sameUnderEveryCut(out, { ...coder, tools: [weatherTool] }, seed);
  assert.equal(r.events, [
    { type: 'text', text: 'Let me check.' },
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'get_weather' },
    { type: 'tool_call_delta', index: 0, arguments: '{"city": "New York", "days": 3, "metric": true, "zip": "10001"}' },
    { type: 'tool_call_end', index: 0 },
  ]);
  assert.equal(r.issues, []);
});

test('Qwen3-Coder: two calls, a multi-line string value, a call without parameters', () => {
  const out = '<tool_call>\n<function=write>\n<parameter=text>\nline 1\nline 2\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=now>\n</function>\n</tool_call>';
  const r = sameUnderEveryCut(out, { ...coder, tools: [{ name: 'write', parameters: { properties: { text: { type: 'string' } } } }, { name: 'now' }] }, seed);
  assert.equal(r.events, [
    { type: 'tool_call_start', index: 0, id: 'call_0', name: 'write' },
    { type: 'tool_call_delta', index: 0, arguments: '{"text": "line 1\\nline 2"}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'tool_call_start', index: 1, id: 'call_1', name: 'now' },
    { type: 'tool_call_delta', index: 1, arguments: '{}' },
    { type: 'tool_call_end', index: 1 },
  ]);
});

test('Qwen3-Coder: a forgotten </parameter> ends at the next parameter', () => {
  const r = sameUnderEveryCut('<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>', { ...coder, tools: [weatherTool] }, seed);
  assert.equal(r.events[1], { type: 'tool_call_delta', index: 0, arguments: '{"city": "Rome", "days": 2}' });
});

test('Qwen3-Coder value conversion follows the schema, falls back to the text', () => {
  assert.is(typedValue('42', 'integer'), 42);
  assert.is(typedValue('42', 'string'), '42');
  assert.is(typedValue('4x', 'number'), '4x');
  assert.equal(typedValue('[1,2]', 'array'), [1, 2]);
  assert.equal(typedValue('{"a":1}', undefined), { a: 1 });
  assert.is(typedValue('hello', undefined), 'hello');
  assert.is(typedValue('False', ['boolean', 'null']), false);
});

test.run();

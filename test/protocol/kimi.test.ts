// Kimi-K2 / K2.5 tool calls and reasoning on hand-written model outputs. Each expectation is the
// event list written out by hand from the format (kimi.md §4.4, §5); every output is also parsed
// under every cutting of its text, which must not change the events.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KIMI, kimiFunctionName } from '../../lib/protocol/kimi.js';
import { THINK_TAGS } from '../../lib/protocol/reasoning.js';
import { runSeed } from '../helpers.js';
import { sameUnderEveryCut } from './splits.js';
import { S, E, B, A, C } from './kimiMarkers.js';

const seed = runSeed();
const kimi = { toolFormat: 'kimi_k2' as const };

test('content, two parallel calls with their ids as written, text after the section', () => {
  const out = `Let me check both.${S}${B}functions.get_weather:0${A}{"city": "Paris"}${C}${B}functions.get_time:1${A}{"tz":"CET"}${C}${E}Done.`;
  const r = sameUnderEveryCut(out, kimi, seed);
  assert.equal(r.events, [
    { type: 'text', text: 'Let me check both.' },
    { type: 'tool_call_start', index: 0, id: 'functions.get_weather:0', name: 'get_weather' },
    { type: 'tool_call_delta', index: 0, arguments: '{"city": "Paris"}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'tool_call_start', index: 1, id: 'functions.get_time:1', name: 'get_time' },
    { type: 'tool_call_delta', index: 1, arguments: '{"tz":"CET"}' },
    { type: 'tool_call_end', index: 1 },
    { type: 'text', text: 'Done.' },
  ]);
  assert.equal(r.issues, []);
});

test('arguments are passed on as they arrive, before the call ends', () => {
  const r = sameUnderEveryCut(`${S}${B}functions.f:3${A}{"a": 1}`, kimi, seed);
  // Cut after the first argument characters: a delta must come before the end of the text.
  assert.equal(r.events.slice(0, 2), [
    { type: 'tool_call_start', index: 0, id: 'functions.f:3', name: 'f' },
    { type: 'tool_call_delta', index: 0, arguments: '{"a": 1}' },
  ]);
  assert.equal(r.issues.map((i) => i.kind), ['unterminated_call']);
});

test('whitespace around calls and arguments, singular section markers, and newlines after the section', () => {
  const out = `Sure.\n\n<|tool_call_section_begin|>\n${B} functions.run:0 ${A}\n  {"cmd": "ls"}\n${C}\n<|tool_call_section_end|>\n\nThe listing follows.`;
  const r = sameUnderEveryCut(out, kimi, seed);
  assert.equal(r.events, [
    { type: 'text', text: 'Sure.' },
    { type: 'tool_call_start', index: 0, id: 'functions.run:0', name: 'run' },
    { type: 'tool_call_delta', index: 0, arguments: '{"cmd": "ls"}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'text', text: 'The listing follows.' },
  ]);
});

test('K2.5: reasoning pre-opened by the prompt ends at </think>; answer whitespace dropped', () => {
  const r = sameUnderEveryCut('\nThe user wants a greeting.\n</think>\n\nHello!', { ...kimi, reasoning: THINK_TAGS, startInReasoning: true }, seed);
  assert.equal(r.events, [
    { type: 'reasoning', text: 'The user wants a greeting.' },
    { type: 'text', text: 'Hello!' },
  ]);
});

test('K2.5: reasoning ends implicitly where a tool-call section starts', () => {
  const out = `I need the weather first.${S}${B}functions.get_weather:0${A}{"city":"Oslo"}${C}${E}`;
  const r = sameUnderEveryCut(out, { ...kimi, reasoning: THINK_TAGS, startInReasoning: true }, seed);
  assert.equal(r.events, [
    { type: 'reasoning', text: 'I need the weather first.' },
    { type: 'tool_call_start', index: 0, id: 'functions.get_weather:0', name: 'get_weather' },
    { type: 'tool_call_delta', index: 0, arguments: '{"city":"Oslo"}' },
    { type: 'tool_call_end', index: 0 },
  ]);
  assert.equal(r.issues, []);
});

test('K2.5: a call begun straight from reasoning, without a section, ends the reasoning too', () => {
  const r = sameUnderEveryCut(`Check it.${B}functions.f:0${A}{}${C}Done.`, { ...kimi, reasoning: THINK_TAGS, startInReasoning: true }, seed);
  assert.equal(r.events, [
    { type: 'reasoning', text: 'Check it.' },
    { type: 'tool_call_start', index: 0, id: 'functions.f:0', name: 'f' },
    { type: 'tool_call_delta', index: 0, arguments: '{}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'text', text: 'Done.' },
  ]);
});

test('a <think> the model writes itself opens reasoning; a repeated opener inside it is consumed', () => {
  const a = sameUnderEveryCut('<think>plan</think>answer', { ...kimi, reasoning: THINK_TAGS }, seed);
  assert.equal(a.events, [{ type: 'reasoning', text: 'plan' }, { type: 'text', text: 'answer' }]);
  const b = sameUnderEveryCut('<think>plan</think>answer', { ...kimi, reasoning: THINK_TAGS, startInReasoning: true }, seed);
  assert.equal(b.events, a.events);
  // After answer text, "<think>" is just text.
  const c = sameUnderEveryCut('x <think>y', { ...kimi, reasoning: THINK_TAGS }, seed);
  assert.equal(c.events, [{ type: 'text', text: 'x <think>y' }]);
});

test('a call without a section, and empty arguments become {}', () => {
  const r = sameUnderEveryCut(`Calling.${B}functions.list_files:0${A}${C} then more`, kimi, seed);
  assert.equal(r.events, [
    { type: 'text', text: 'Calling.' },
    { type: 'tool_call_start', index: 0, id: 'functions.list_files:0', name: 'list_files' },
    { type: 'tool_call_delta', index: 0, arguments: '{}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'text', text: 'then more' },
  ]);
});

test('malformed arguments and unknown tools are kept and reported', () => {
  const out = `${S}${B}functions.nope:0${A}{"a": 1,${C}${B}functions.known:1${A}{"b":2}${C}${E}`;
  const r = sameUnderEveryCut(out, { ...kimi, tools: [{ name: 'known' }] }, seed);
  assert.equal(r.events.filter((e) => e.type === 'tool_call_start').map((e) => e.type === 'tool_call_start' && e.name), ['nope', 'known']);
  assert.equal(r.issues.map((i) => [i.kind, i.index]), [['unknown_tool', 0], ['invalid_arguments', 0]]);
});

test('generation ending inside a section or a call header is reported; open calls are closed', () => {
  const inSection = sameUnderEveryCut(`${S}${B}functions.a:0${A}{}${C}`, kimi, seed);
  assert.equal(inSection.events.map((e) => e.type), ['tool_call_start', 'tool_call_delta', 'tool_call_end']);
  assert.equal(inSection.issues.map((i) => i.kind), ['unclosed_section']);
  const inHeader = sameUnderEveryCut(`ok${S}${B}functions.a`, kimi, seed);
  assert.equal(inHeader.events, [{ type: 'text', text: 'ok' }]);
  assert.equal(inHeader.issues.map((i) => i.kind), ['malformed_call']);
  const noName = sameUnderEveryCut(`${S}${B}functions.:0${A}{}${C}${B}functions.b:1${A}{}${C}${E}`, kimi, seed);
  assert.equal(noName.events.filter((e) => e.type === 'tool_call_start').length, 1);
  assert.equal(noName.issues.map((i) => i.kind), ['malformed_call']);
});

test('a marker prefix that is not a marker is released as text', () => {
  const r = sameUnderEveryCut('a <|tool_call but not <|tool_calls_section_beg', kimi, seed);
  assert.equal(r.events, [{ type: 'text', text: 'a <|tool_call but not <|tool_calls_section_beg' }]);
});

test('function names from ids', () => {
  assert.is(kimiFunctionName('functions.get_weather:0'), 'get_weather');
  assert.is(kimiFunctionName('get_weather:12'), 'get_weather');
  assert.is(kimiFunctionName('functions.mcp__github__create_issue:7'), 'mcp__github__create_issue');
  assert.is(KIMI.sectionBegin.length, 2);
});

test('parallel_tool_calls false: output ends after the first call', () => {
  const out = `${S}${B}functions.a:0${A}{}${C}${B}functions.b:1${A}{}${C}${E}tail`;
  const r = sameUnderEveryCut(out, { ...kimi, maxToolCalls: 1 }, seed);
  assert.equal(r.events, [
    { type: 'tool_call_start', index: 0, id: 'functions.a:0', name: 'a' },
    { type: 'tool_call_delta', index: 0, arguments: '{}' },
    { type: 'tool_call_end', index: 0 },
  ]);
});

test.run();

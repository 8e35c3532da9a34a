// The real server driven by @anthropic-ai/sdk, as Claude Code drives it: streamed messages
// accumulated by the SDK's MessageStream, a tool_use → tool_result round trip served from the
// prompt cache, thinking blocks, stop sequences and count_tokens.
import type { MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LanguageModel } from '../../lib/engine/languageModel.js';
import { TINY_KIMI } from '../helpers.js';
import { type Live, startLive, stepsOf } from './live.js';
import { S, E, B, A, C } from '../protocol/kimiMarkers.js';

const tools = [{ name: 'read_file', description: 'Read a file', input_schema: { type: 'object' as const, properties: { path: { type: 'string' } }, required: ['path'] } }];

let live: Live;
let lm: LanguageModel;

test.before(async () => {
  // Claude Code asks for claude-* models; a wildcard alias sends them to the local model.
  live = await startLive({ models: [{ path: TINY_KIMI, aliases: ['claude-*'] }] });
  lm = await LanguageModel.load(TINY_KIMI);
});
test.after(() => live.close());

test('streamed text from the bundled model: the SDK accumulates what the engine generates', async () => {
  const messages = [{ role: 'user' as const, content: 'What does the with statement do?' }];
  const expected = await lm.generate({ messages: [{ role: 'system', content: 'Be brief.' }, ...messages] }, { maxTokens: 20, temperature: 0 });
  const stream = live.anthropic.messages.stream({ model: 'claude-sonnet-5', system: 'Be brief.', max_tokens: 20, temperature: 0, messages });
  let deltas = 0;
  stream.on('text', () => deltas++);
  const m = await stream.finalMessage();
  assert.is(m.model, 'claude-sonnet-5', 'the model name the client asked for is echoed');
  assert.equal(m.content, [{ type: 'text', text: expected.text.trimStart(), citations: null }]);
  assert.ok(deltas > 5, `text arrived in ${deltas} deltas`);
  assert.is(m.stop_reason, expected.finishReason === 'length' ? 'max_tokens' : 'end_turn');
  assert.is(m.usage.output_tokens, expected.ids.length);
  assert.is(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), expected.promptIds.length);
});

test('tool_use → tool_result → answer; the second turn starts from the cached first turn', async () => {
  live.scripts.push({ text: `<think>I need the file.</think>Reading it.${S}${B}functions.read_file:0${A}{"path": "setup.py"}${C}${E}` });
  const first = await live.anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 500, tools, messages: [{ role: 'user', content: 'What is in setup.py?' }] }).finalMessage();
  assert.is(first.stop_reason, 'tool_use');
  const use = first.content.find((b) => b.type === 'tool_use');
  assert.ok(use && use.type === 'tool_use');
  assert.is(use.name, 'read_file');
  assert.equal(use.input, { path: 'setup.py' });
  assert.match(use.id, /^[a-zA-Z0-9_-]+$/);
  assert.equal(first.content[0], { type: 'thinking', thinking: 'I need the file.', signature: '' });
  assert.equal(first.content[1], { type: 'text', text: 'Reading it.', citations: null });

  live.scripts.push({ text: 'It defines the package.' });
  const history: MessageParam[] = [
    { role: 'user', content: 'What is in setup.py?' },
    { role: 'assistant', content: first.content.map((b) => (b.type === 'thinking' ? { type: 'thinking' as const, thinking: b.thinking, signature: b.signature } : b.type === 'text' ? { type: 'text' as const, text: b.text } : b.type === 'tool_use' ? { type: 'tool_use' as const, id: b.id, name: b.name, input: b.input } : { type: 'text' as const, text: '' })) },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'from setuptools import setup' }] },
  ];
  const { data: second, request_id } = await live.anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 500, tools, messages: history }).withResponse();
  assert.equal(second.content, [{ type: 'text', text: 'It defines the package.', citations: null }]);
  assert.is(second.stop_reason, 'end_turn');
  const firstPrompt = first.usage.input_tokens + (first.usage.cache_read_input_tokens ?? 0);
  const cached = second.usage.cache_read_input_tokens ?? 0;
  assert.ok(cached >= firstPrompt, `the whole first prompt (${firstPrompt} tokens) is reused, got ${cached}`);
  const prefilled = stepsOf(live, request_id!).filter((s) => s.kind === 'prefill').reduce((a, s) => a + s.tokens, 0);
  assert.is(prefilled, second.usage.input_tokens, 'only input_tokens (the uncached part) ran through the model');
});

test('stop_sequences: stop_reason stop_sequence names the sequence', async () => {
  live.scripts.push({ text: 'Step one. STOP here and more text.', after: 'repeat' });
  const m = await live.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 200, stop_sequences: ['STOP'], messages: [{ role: 'user', content: 'x' }] });
  assert.equal(m.content, [{ type: 'text', text: 'Step one. ', citations: null }]);
  assert.is(m.stop_reason, 'stop_sequence');
  assert.is(m.stop_sequence, 'STOP');
  assert.ok(m.usage.output_tokens < 10);
});

test('thinking.budget_tokens: the reasoning is closed after the budget and the model goes on to its answer', async () => {
  const reasoning = ' file'.repeat(3000);
  const stepTokens = live.server.registry.resolve('tiny-kimi')!.tokenizer.encode(' file file').length / 2;
  const ask = async (budget?: number) => {
    live.scripts.push({ text: `<think>${reasoning}` });
    const thinking = budget === undefined ? {} : { thinking: { type: 'enabled' as const, budget_tokens: budget } };
    return live.anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 1500, ...thinking, messages: [{ role: 'user', content: 'x' }] });
  };
  const capped = await ask(1024);
  assert.is(stepTokens, 1, "' file' is one token, so words count tokens");
  assert.is(capped.content.length, 2, JSON.stringify(capped.content.map((b) => b.type)));
  const [thinking, text] = capped.content;
  assert.is(thinking!.type, 'thinking');
  const words = (thinking as { thinking: string }).thinking.split(' ').filter(Boolean);
  assert.ok(words.every((w) => w === 'file'));
  assert.ok(words.length >= 1020 && words.length <= 1024, `${words.length} reasoning tokens for a budget of 1024`);
  assert.is(text!.type, 'text', 'after the forced end of reasoning the output is the answer');
  assert.ok((text as { text: string }).text.startsWith('file file'));
  assert.is(capped.stop_reason, 'max_tokens');
  assert.is(capped.usage.output_tokens, 1500, 'the forced end marker counts as output');

  const unbounded = await ask();
  assert.equal(unbounded.content.map((b) => b.type), ['thinking'], 'without a budget the reasoning runs to max_tokens');
});

test('count_tokens equals the prompt the chat template renders and the input a request is billed for', async () => {
  const body = { model: 'tiny-kimi', system: 'You are terse.', tools, messages: [{ role: 'user' as const, content: 'Count me.' }] };
  const counted = await live.anthropic.messages.countTokens(body);
  const rendered = lm.tokenizer.applyChatTemplate(
    [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Count me.' },
    ],
    { tools: tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.input_schema } })) },
  );
  assert.is(counted.input_tokens, rendered.ids.length);
  live.scripts.push({ text: 'ok' });
  const m = await live.anthropic.messages.create({ ...body, max_tokens: 5 });
  assert.is(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), counted.input_tokens);
});

test.run();

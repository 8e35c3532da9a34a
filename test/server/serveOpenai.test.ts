// The real server (express, scheduler, engine, tiny-kimi) driven by the official openai SDK.
// Real sampling is checked against the engine's own decode loop (LanguageModel.generate with the
// same prompt and sampler settings); tool calls, reasoning and stops use scripted token choices,
// which still run every token through the model, the prompt cache, the parser and the SSE writer.
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LanguageModel } from '../../lib/engine/languageModel.js';
import type { ChatMessage } from '../../lib/tokenizer/index.js';
import { TINY_KIMI } from '../helpers.js';
import { type Live, startLive, stepsOf } from './live.js';
import { S, E, B, A, C } from '../protocol/kimiMarkers.js';
import { weatherTool } from './openaiTools.js';

let live: Live;
let lm: LanguageModel;

test.before(async () => {
  live = await startLive();
  lm = await LanguageModel.load(TINY_KIMI);
});
test.after(() => live.close());

const question: ChatCompletionMessageParam[] & ChatMessage[] = [{ role: 'user', content: 'How do I open a file in Python?' }];

test('streamed text from the bundled model equals the engine decoding the same prompt (greedy and seeded sampling)', async () => {
  for (const sampling of [{ temperature: 0 }, { temperature: 0.8, top_p: 0.9, seed: 7 }]) {
    const expected = await lm.generate({ messages: question }, { maxTokens: 24, temperature: sampling.temperature, topP: sampling.top_p ?? 1, ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}) });
    const stream = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: question, max_tokens: 24, stream: true, stream_options: { include_usage: true }, ...sampling });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    // The answer's leading whitespace is dropped (lib/protocol/reasoning.ts), nothing else.
    assert.is(text, expected.text.trimStart(), JSON.stringify(sampling));
    assert.ok(chunks.filter((c) => c.choices[0]?.delta.content).length > 5, 'the text arrives in many chunks');
    const usage = chunks[chunks.length - 1]!.usage!;
    assert.is(usage.completion_tokens, expected.ids.length);
    assert.is(usage.prompt_tokens, expected.promptIds.length);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason)!.choices[0]!.finish_reason;
    assert.is(finish, expected.finishReason === 'length' ? 'length' : 'stop');
  }
  // Not streamed: the same answer in one object.
  const plain = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: question, max_tokens: 24, temperature: 0 });
  const greedy = await lm.generate({ messages: question }, { maxTokens: 24, temperature: 0 });
  assert.is(plain.choices[0]!.message.content, greedy.text.trimStart());
});

test('completions: a raw text prompt gives what the engine gives for its tokens', async () => {
  const prompt = 'The with statement';
  // The prompt is encoded as it is (no BOS for Kimi's tokenizer, which adds none itself).
  const ids = lm.tokenizer.encode(prompt, { special: true, addSpecial: true });
  const expected = await lm.generate({ ids }, { maxTokens: 12, temperature: 0 });
  const r = await live.openai.completions.create({ model: 'tiny-kimi', prompt, max_tokens: 12, temperature: 0 });
  assert.is(r.choices[0]!.text, expected.text);
  assert.is(r.usage!.prompt_tokens, expected.promptIds.length);
});

test('tool call round trip: streamed call deltas, then the result; the second turn reuses the whole first turn from the prompt cache', async () => {
  const call = `Let me check.${S}${B}functions.get_weather:0${A}{"city": "Paris"}${C}${E}`;
  live.scripts.push({ text: call });
  const runner = live.openai.chat.completions.stream({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weatherTool], stream_options: { include_usage: true } });
  let argumentPieces = 0;
  runner.on('tool_calls.function.arguments.delta', () => argumentPieces++);
  const first = await runner.finalChatCompletion();
  const msg = first.choices[0]!.message;
  assert.is(first.choices[0]!.finish_reason, 'tool_calls');
  assert.is(msg.content, 'Let me check.');
  assert.equal(msg.tool_calls, [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }]);
  assert.ok(argumentPieces > 2, `arguments streamed in pieces (${argumentPieces})`);
  const firstUsage = first.usage!;

  live.scripts.push({ text: 'It is sunny in Paris.' });
  const history: ChatCompletionMessageParam[] = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: msg.content, tool_calls: msg.tool_calls! },
    { role: 'tool', tool_call_id: msg.tool_calls![0]!.id, content: 'sunny, 24C' },
  ];
  const { data: second, request_id } = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: history, tools: [weatherTool] }).withResponse();
  assert.is(second.choices[0]!.message.content, 'It is sunny in Paris.');
  assert.is(second.choices[0]!.finish_reason, 'stop');
  // The call renders exactly as the model wrote it, so the cached first turn (prompt + generated
  // tokens) is a prefix of the second prompt; only the tool result and the new header are run.
  const cached = second.usage!.prompt_tokens_details!.cached_tokens!;
  assert.is(cached, firstUsage.prompt_tokens + firstUsage.completion_tokens);
  const prefilled = stepsOf(live, request_id!).filter((s) => s.kind === 'prefill').reduce((a, s) => a + s.tokens, 0);
  assert.is(prefilled, second.usage!.prompt_tokens - cached, 'the model ran only the uncached prompt tokens');
});

test('reasoning: <think> goes to reasoning_content, streamed and not', async () => {
  const text = '<think>The user wants a file opened.</think>Use open().';
  live.scripts.push({ text }, { text });
  const plain = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: question });
  const m = plain.choices[0]!.message as { content: string; reasoning_content?: string };
  assert.is(m.content, 'Use open().');
  assert.is(m.reasoning_content, 'The user wants a file opened.');
  const stream = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: question, stream: true });
  let reasoning = '';
  let content = '';
  for await (const c of stream) {
    const d = c.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
    reasoning += d?.reasoning_content ?? '';
    content += d?.content ?? '';
  }
  assert.is(reasoning, 'The user wants a file opened.');
  assert.is(content, 'Use open().');
});

test('a stop sequence ends the output and the generation', async () => {
  live.scripts.push({ text: 'First line.\n\nSecond paragraph that must not appear.', after: 'repeat' });
  const { data, request_id } = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: question, stop: ['\n\n'], max_tokens: 200 }).withResponse();
  assert.is(data.choices[0]!.message.content, 'First line.');
  assert.is(data.choices[0]!.finish_reason, 'stop');
  const decoded = stepsOf(live, request_id!).filter((s) => s.kind === 'decode').length;
  assert.ok(decoded < 10, `the model stopped right after the stop sequence (${decoded} decode steps, not 200)`);
  assert.is(data.usage!.completion_tokens, decoded + 1, 'the token that completed the stop sequence was sampled but not run');
});

test('logprobs: the sampled token and top alternatives, from the model distribution', async () => {
  const r = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: question, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = r.choices[0]!.logprobs!.content!;
  assert.is(content.length, 6);
  for (const t of content) {
    assert.is(t.top_logprobs.length, 3);
    assert.is(t.logprob, t.top_logprobs[0]!.logprob, 'greedy picks the most likely token');
    assert.ok(t.top_logprobs[0]!.logprob >= t.top_logprobs[1]!.logprob && t.top_logprobs[1]!.logprob >= t.top_logprobs[2]!.logprob);
    assert.ok(t.top_logprobs.reduce((a, x) => a + Math.exp(x.logprob), 0) <= 1 + 1e-5);
  }
  assert.is(content.map((t) => t.token).join('').trimStart(), r.choices[0]!.message.content);
});

test.run();

// The same SDK requests against both engines behind `mlxk serve`: mlxk's own engine (mlx backend,
// float32) and a real mlx-lm worker (float32). Greedy decoding over logits that agree within ~3e-6
// picks the same tokens, so everything the SDKs parse — text, forced tool calls, stop and length
// endings, usage, error classes — must be equal; the engines differ only in who computes the logits.
// Cancellation: a client that aborts mid-stream leaves the mlx-lm worker able to answer the next
// request exactly. Without mlx-lm the file reports that it did not run (see env.ts).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningServer, startServer } from '../../lib/server/serve.js';
import { TINY_KIMI } from '../helpers.js';
import { timeTool, weatherTool } from '../server/openaiTools.js';
import { mlxLmEnv } from './env.js';

const env = mlxLmEnv();
let ours: RunningServer | undefined;
let theirs: RunningServer | undefined;

test.before(async () => {
  if (!env.python) return;
  const common = { port: 0, memoryBytes: 4 * 2 ** 30, backend: 'mlx' as const };
  ours = await startServer({ ...common, models: [{ path: TINY_KIMI, aliases: ['claude-*'] }] });
  theirs = await startServer({ ...common, models: [{ path: TINY_KIMI, aliases: ['claude-*'], engine: 'mlx-lm' }], workerLaunch: { python: env.python, env: env.env!, args: ['--dtype', 'float32'] } });
});
test.after(async () => {
  await Promise.all([ours?.close(), theirs?.close()]);
});

const openai = (s: RunningServer) => new OpenAI({ apiKey: 'x', baseURL: `${s.url}/v1`, maxRetries: 0 });
const anthropic = (s: RunningServer) => new Anthropic({ apiKey: 'x', baseURL: s.url, maxRetries: 0 });

/** What a chat completion says, without the per-response id and timestamp. */
function chatResult(c: OpenAI.ChatCompletion) {
  return { choices: c.choices, usage: { prompt: c.usage?.prompt_tokens, completion: c.usage?.completion_tokens } };
}

async function onBoth<T>(ask: (s: RunningServer) => Promise<T>): Promise<[T, T]> {
  // One at a time: the two servers share the machine's two cores.
  const a = await ask(ours!);
  const b = await ask(theirs!);
  return [a, b];
}

const skip = () => !ours && (console.log(`  NOT RUN: ${env.reason}`), true);

test('OpenAI: a forced tool call, streamed and not, parses to the same call on both engines', async () => {
  if (skip()) return;
  const params = {
    model: 'tiny-kimi',
    messages: [{ role: 'user' as const, content: 'What is the weather in Lisbon?' }],
    tools: [weatherTool, timeTool],
    tool_choice: { type: 'function' as const, function: { name: 'get_weather' } },
    max_tokens: 24,
    temperature: 0,
  };
  const [mine, mlxLm] = await onBoth(async (s) => ({
    streamed: chatResult(await openai(s).chat.completions.stream(params).finalChatCompletion()),
    plain: chatResult(await openai(s).chat.completions.create(params)),
  }));
  const call = mine.plain.choices[0]!.message.tool_calls?.[0];
  assert.ok(call?.type === 'function' && call.function.name === 'get_weather', `the forced call is there: ${JSON.stringify(mine.plain.choices[0])}`);
  // The stream helper does not see usage unless asked; compare what both forms carry.
  assert.equal(mlxLm.plain, mine.plain);
  assert.equal(mlxLm.streamed.choices, mine.streamed.choices);
  assert.equal(mine.streamed.choices[0]!.message.tool_calls, mine.plain.choices[0]!.message.tool_calls);
});

test('OpenAI: stop sequence and max_tokens end both engines at the same token with the same reason', async () => {
  if (skip()) return;
  const ask = { model: 'tiny-kimi', messages: [{ role: 'user' as const, content: 'Explain list comprehensions.' }], temperature: 0 };
  const [free] = await onBoth((s) => openai(s).chat.completions.create({ ...ask, max_tokens: 16 }));
  const text = free.choices[0]!.message.content!;
  assert.is(free.choices[0]!.finish_reason, 'length');
  // A stop string taken from the middle of the greedy answer: both must cut right before it.
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  assert.ok(stop.trim().length > 0, `a usable stop string in ${JSON.stringify(text)}`);
  const [a, b] = await onBoth(async (s) => chatResult(await openai(s).chat.completions.create({ ...ask, max_tokens: 16, stop: [stop] })));
  assert.equal(b, a);
  assert.is(a.choices[0]!.finish_reason, 'stop');
  assert.is(a.choices[0]!.message.content, text.slice(0, text.indexOf(stop)));
});

test('Anthropic: streamed forced tool_use and a stop_sequence give the same message on both engines', async () => {
  if (skip()) return;
  const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];
  const [a, b] = await onBoth(async (s) => {
    const m = await anthropic(s).messages.stream({ model: 'claude-sonnet-5', max_tokens: 24, temperature: 0, tools, tool_choice: { type: 'tool', name: 'get_weather' }, messages: [{ role: 'user', content: 'Weather in Oslo?' }] }).finalMessage();
    return { content: m.content, stop: m.stop_reason, usage: m.usage.output_tokens };
  });
  assert.ok(a.content.some((c) => c.type === 'tool_use' && c.name === 'get_weather'), JSON.stringify(a.content));
  assert.equal(b, a);
  const ask = { model: 'claude-sonnet-5', max_tokens: 16, temperature: 0, messages: [{ role: 'user' as const, content: 'What is a decorator?' }] };
  const free = await anthropic(ours!).messages.create(ask);
  const text = free.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  const [x, y] = await onBoth(async (s) => {
    const m = await anthropic(s).messages.create({ ...ask, stop_sequences: [stop] });
    return { content: m.content, stop: m.stop_reason, seq: m.stop_sequence };
  });
  assert.equal(y, x);
  assert.equal([x.stop, x.seq], ['stop_sequence', stop]);
});

test('mlx-lm: a client that aborts mid-stream leaves the worker answering the next request exactly', async () => {
  if (skip()) return;
  const ask = { model: 'tiny-kimi', messages: [{ role: 'user' as const, content: 'Write a long story about a lighthouse.' }], max_tokens: 400, temperature: 0 };
  const abort = new AbortController();
  let seen = 0;
  try {
    const stream = await openai(theirs!).chat.completions.create({ ...ask, stream: true }, { signal: abort.signal });
    for await (const c of stream) {
      if (c.choices[0]?.delta.content && ++seen === 3) abort.abort();
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError, String(e));
  }
  assert.is(seen, 3);
  const short = { ...ask, max_tokens: 12 };
  const [a, b] = await onBoth(async (s) => chatResult(await openai(s).chat.completions.create(short)));
  assert.equal(b, a);
});

test('errors: the same SDK error class, status and message from both engines', async () => {
  if (skip()) return;
  const failures: ((s: RunningServer) => Promise<unknown>)[] = [
    (s) => openai(s).chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' as unknown as number }),
    (s) => openai(s).chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (s) => openai(s).chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'word '.repeat(20_000) }], max_tokens: 4 }),
    (s) => anthropic(s).messages.create({ model: 'claude-x', max_tokens: -1, messages: [{ role: 'user', content: 'x' }] }),
  ];
  for (const fail of failures) {
    const [a, b] = await onBoth(async (s) => {
      try {
        await fail(s);
        return 'answered';
      } catch (e) {
        const err = e as { constructor: { name: string }; status?: number; message: string };
        return { cls: err.constructor.name, status: err.status, message: err.message };
      }
    });
    assert.ok(a !== 'answered', 'the request was refused');
    assert.equal(b, a);
  }
});

test.run();

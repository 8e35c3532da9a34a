// `mlxk serve --engine mlx-lm` end to end with the real mlx-lm worker (python/mlx_lm_worker.py on
// the mlx-lm found by env.ts; float32 so it can be compared): the SDKs' greedy answers equal what
// mlxk's own mlx backend (float32) generates for the same request, streamed and not, through
// OpenAI and Anthropic; a second turn reuses the worker's prompt cache. Without mlx-lm the file
// reports that it did not run (test/server/engines/ covers the engine with a stand-in everywhere).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LanguageModel } from '../../lib/engine/languageModel.js';
import { type RunningServer, startServer } from '../../lib/server/serve.js';
import { TINY_KIMI } from '../helpers.js';
import { mlxLmEnv } from './env.js';

const env = mlxLmEnv();
let server: RunningServer | undefined;
let lm: LanguageModel;

test.before(async () => {
  if (!env.python) return;
  server = await startServer({ models: [{ path: TINY_KIMI, aliases: ['claude-*'], engine: 'mlx-lm' }], port: 0, memoryBytes: 4 * 2 ** 30, workerLaunch: { python: env.python, env: env.env!, args: ['--dtype', 'float32'] } });
  lm = await LanguageModel.load(TINY_KIMI, { backend: 'mlx' });
});
test.after(async () => {
  await server?.close();
});

const question = [{ role: 'user' as const, content: 'How do I open a file in Python?' }];

test('OpenAI: greedy text from mlx-lm equals mlxk\'s mlx backend, streamed and not', async () => {
  if (!server) return console.log(`  NOT RUN: ${env.reason}`);
  const openai = new OpenAI({ apiKey: 'x', baseURL: `${server.url}/v1`, maxRetries: 0 });
  const expected = await lm.generate({ messages: question }, { maxTokens: 24, temperature: 0 });
  const stream = await openai.chat.completions.create({ model: 'tiny-kimi', messages: question, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const c of stream) {
    text += c.choices[0]?.delta.content ?? '';
    usage = c.usage ?? usage;
  }
  assert.is(text, expected.text.trimStart());
  assert.is(usage!.completion_tokens, expected.ids.length);
  const plain = await openai.chat.completions.create({ model: 'tiny-kimi', messages: question, max_tokens: 24, temperature: 0 });
  assert.is(plain.choices[0]!.message.content, expected.text.trimStart());
  assert.ok((plain.usage!.prompt_tokens_details?.cached_tokens ?? 0) > 0, 'the repeated prompt came from the worker\'s prompt cache');
});

test('Anthropic: streamed greedy message from mlx-lm equals mlxk\'s mlx backend', async () => {
  if (!server) return console.log(`  NOT RUN: ${env.reason}`);
  const anthropic = new Anthropic({ apiKey: 'x', baseURL: server.url, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'What does the with statement do?' }];
  const expected = await lm.generate({ messages: [{ role: 'system', content: 'Be brief.' }, ...messages] }, { maxTokens: 20, temperature: 0 });
  const m = await anthropic.messages.stream({ model: 'claude-sonnet-5', system: 'Be brief.', max_tokens: 20, temperature: 0, messages }).finalMessage();
  assert.equal(m.content, [{ type: 'text', text: expected.text.trimStart(), citations: null }]);
  assert.is(m.usage.output_tokens, expected.ids.length);
});

test.run();

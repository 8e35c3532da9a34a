// `serve --engine mlx-lm` with the worker replaced by a stand-in speaking its protocol (standIn.ts),
// driven by the official SDKs: the front end (templates, parsers, SSE, tool calls, thinking budget,
// cancellation, errors) is mlxk's, and the engine's own logic — child start, health check, restart
// after a crash, stop on close — is exercised on every machine. test/compat/mlxLmServe.test.ts runs
// the same engine against the real mlx-lm where it is built.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { MlxkError } from '../../../lib/io/errors.js';
import { type RunningServer, startServer } from '../../../lib/server/serve.js';
import { TINY_KIMI } from '../../helpers.js';
import { S, E, B, A, C } from '../../protocol/kimiMarkers.js';
import { until } from '../live.js';
import { timeTool, weatherTool } from '../openaiTools.js';
import type { StandInRecord, StandInScript } from './standIn.js';

const STAND_IN = fileURLToPath(new URL('./standIn.js', import.meta.url));
const launch = (extra: string[] = []) => ({ python: process.execPath, script: STAND_IN, args: extra });

let server: RunningServer;
let openai: OpenAI;
let anthropic: Anthropic;
const logs: string[] = [];

test.before(async () => {
  server = await startServer({
    models: [{ path: TINY_KIMI, aliases: ['claude-*'], engine: 'mlx-lm' }],
    port: 0,
    memoryBytes: 4 * 2 ** 30,
    workerLaunch: launch(),
    log: (l) => logs.push(l),
  });
  openai = new OpenAI({ apiKey: 'x', baseURL: `${server.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'x', baseURL: server.url, maxRetries: 0 });
});
test.after(() => server.close());

const model = () => server.registry.resolve('tiny-kimi')!;
const workerUrl = () => model().worker!.url;
const encode = (text: string) => model().tokenizer.encode(text, { special: true });

async function script(s: Omit<StandInScript, 'ids'> & { text: string }): Promise<void> {
  const { text, ...rest } = s;
  const r = await fetch(`${workerUrl()}/script`, { method: 'POST', body: JSON.stringify({ ids: encode(text), ...rest }) });
  assert.ok(r.ok);
}
async function records(): Promise<StandInRecord[]> {
  return (await (await fetch(`${workerUrl()}/requests`)).json()) as StandInRecord[];
}
const lastRecord = async () => (await records()).at(-1)!;

test('the worker is started with the server, answers /health, and mlxk lists the model as loaded', async () => {
  const m = model();
  assert.ok(m.worker?.alive);
  assert.is(((await (await fetch(`${m.worker!.url}/health`)).json()) as { status: string }).status, 'ok');
  const h = (await (await fetch(`${server.url}/health`)).json()) as { models: { loaded: boolean }[] };
  assert.is(h.models[0]!.loaded, true);
  assert.ok(logs.some((l) => /loaded tiny-kimi .*mlx-lm worker pid \d+/.test(l)), logs.join('\n'));
});

test('token ids round-trip: an unscripted (echoing) worker returns exactly the prompt the template rendered', async () => {
  const prompt = 'with open("ü.txt") as f:\n    données = f.read()  # 東京';
  const r = await openai.completions.create({ model: 'tiny-kimi', prompt, max_tokens: 200, temperature: 0 });
  assert.is(r.choices[0]!.text, prompt);
  const rec = await lastRecord();
  assert.equal(rec.body.prompt, encode(prompt));
  assert.is(r.usage!.completion_tokens, rec.body.prompt.length);
  assert.is(r.choices[0]!.finish_reason, 'stop');
});

test('streamed chat: reasoning_content apart from content, usage, and the sampling settings reach the worker', async () => {
  await script({ text: '<think>The user greets.</think>Hello there, friend!' });
  const stream = await openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true }, temperature: 0.7, top_p: 0.9, seed: 11, logit_bias: { '42': 3 } });
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta as { content?: string; reasoning_content?: string }));
  assert.is(deltas.map((d) => d.content ?? '').join(''), 'Hello there, friend!');
  assert.is(deltas.map((d) => d.reasoning_content ?? '').join(''), 'The user greets.');
  assert.ok(deltas.filter((d) => d.content).length > 1, 'content arrives in several chunks');
  const rec = await lastRecord();
  assert.is(chunks.at(-1)!.usage!.prompt_tokens, rec.body.prompt.length);
  assert.is(chunks.at(-1)!.usage!.completion_tokens, encode('<think>The user greets.</think>Hello there, friend!').length);
  assert.equal({ t: rec.body.temperature, p: rec.body.top_p, seed: rec.body.seed, bias: rec.body.logit_bias }, { t: 0.7, p: 0.9, seed: 11, bias: { '42': 3 } });
  assert.equal(rec.body.stop_token_ids, model().stopTokens);
});

test('parallel tool calls, streamed and not, parse as with the native engine; the round trip renders the calls as written', async () => {
  const TWO = `Ich sehe nach.${S}${B}functions.get_weather:0${A}{"city": "東京"}${C}${B}functions.get_time:1${A}{"tz": "Asia/Tokyo"}${C}${E}`;
  const params = { model: 'tiny-kimi', messages: [{ role: 'user' as const, content: 'Weather and time in Tokyo?' }], tools: [weatherTool, timeTool] };
  await script({ text: TWO });
  const streamed = await openai.chat.completions.stream(params).finalChatCompletion();
  await script({ text: TWO });
  const plain = await openai.chat.completions.create(params);
  for (const c of [streamed, plain]) {
    assert.is(c.choices[0]!.finish_reason, 'tool_calls');
    assert.is(c.choices[0]!.message.content, 'Ich sehe nach.');
    assert.equal(c.choices[0]!.message.tool_calls!.map((t) => t.type === 'function' && [t.id, t.function.name, t.function.arguments]), [
      ['functions.get_weather:0', 'get_weather', '{"city": "東京"}'],
      ['functions.get_time:1', 'get_time', '{"tz": "Asia/Tokyo"}'],
    ]);
  }
  await script({ text: 'Sonnig.' });
  const msg = plain.choices[0]!.message;
  const second = await openai.chat.completions.create({ ...params, messages: [...params.messages, msg, { role: 'tool', tool_call_id: msg.tool_calls![0]!.id, content: 'sunny' }, { role: 'tool', tool_call_id: msg.tool_calls![1]!.id, content: '14:00' }] });
  assert.is(second.choices[0]!.message.content, 'Sonnig.');
  const rendered = model().tokenizer.decode((await lastRecord()).body.prompt);
  assert.ok(rendered.includes(TWO), 'the worker was sent the calls exactly as the model wrote them');
});

test('Anthropic: streamed thinking, text and tool_use accumulate in the SDK; stop_sequences end the stream', async () => {
  await script({ text: `<think>I need the file.</think>Reading it.${S}${B}functions.read_file:0${A}{"path": "setup.py"}${C}${E}` });
  const tools = [{ name: 'read_file', input_schema: { type: 'object' as const, properties: { path: { type: 'string' } } } }];
  const m = await anthropic.messages.stream({ model: 'claude-sonnet-5', max_tokens: 300, tools, messages: [{ role: 'user', content: 'setup.py?' }] }).finalMessage();
  assert.equal(m.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
  assert.is(m.stop_reason, 'tool_use');
  const use = m.content[2]!;
  assert.ok(use.type === 'tool_use' && use.name === 'read_file');
  assert.equal(use.input, { path: 'setup.py' });

  await script({ text: 'one two three STOP four five', after: 'repeat' });
  const stopped = await anthropic.messages.create({ model: 'claude-haiku', max_tokens: 300, stop_sequences: ['STOP'], messages: [{ role: 'user', content: 'count' }] });
  assert.is(stopped.stop_reason, 'stop_sequence');
  assert.is(stopped.stop_sequence, 'STOP');
  assert.equal(stopped.content, [{ type: 'text', text: 'one two three ', citations: null }]);
  const rec = await lastRecord();
  assert.ok(rec.sent < 40, `the worker's stream was closed at the stop sequence (${rec.sent} tokens sent)`);
});

test('thinking.budget_tokens: the reasoning is closed, and the worker resumes after the marker from its cache', async () => {
  await script({ text: `<think>${' file'.repeat(300)}`, after: 'repeat' });
  await script({ text: 'The answer.' });
  const before = (await records()).length;
  const capped = await anthropic.messages.create({ model: 'tiny-kimi', max_tokens: 1500, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'x' }] });
  assert.equal(capped.content.map((b) => b.type), ['thinking', 'text']);
  assert.is((capped.content[1] as { text: string }).text, 'The answer.');
  const [first, resumed] = (await records()).slice(before);
  assert.ok(first && resumed, 'two worker requests: the reasoning, then the answer');
  const close = encode('</think>');
  assert.equal(resumed!.body.prompt.slice(-close.length), close, 'the resumed prompt ends with the forced end-of-reasoning marker');
  // The stand-in may write a token or two past the point the server closed its stream (a race
  // the real worker has too); the server's own count is what the resumed prompt carries.
  const used = resumed!.body.prompt.length - first!.body.prompt.length - close.length;
  assert.equal(resumed!.body.prompt.slice(0, first!.body.prompt.length), first!.body.prompt, 'the resumed prompt extends the first');
  assert.ok(used >= 1000 && used <= first!.sent, `${used} reasoning tokens carried of ${first!.sent} sent (budget 1024)`);
  // The worker holds keys and values for its prompt and every token it sent but the last, so the
  // resumed prompt reuses the first prompt plus the carried reasoning, less any it had not computed.
  assert.is(resumed!.cachedTokens, first!.body.prompt.length + Math.min(used, first!.sent - 1), 'only the new tokens are prefilled');
  assert.is(capped.usage.output_tokens, used + close.length + encode('The answer.').length);
});

test('logprobs come from the worker, streamed and not', async () => {
  await script({ text: 'a b c' });
  const r = await openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 2 });
  const lp = r.choices[0]!.logprobs!.content!;
  assert.is(lp.length, encode('a b c').length);
  assert.ok(lp.every((e) => e.logprob === -0.25 && e.top_logprobs.length === 2 && e.top_logprobs[1]!.logprob === -1.25));
  assert.is((await lastRecord()).body.logprobs, 2);
});

test('a client that disconnects closes the worker stream; the job ends and the model is released', async () => {
  await script({ text: ' more', after: 'repeat', delayMs: 3 });
  const ctl = new AbortController();
  const stream = await openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'go' }], max_tokens: 3000, stream: true }, { signal: ctl.signal });
  let n = 0;
  for await (const c of stream) if (c.choices[0]?.delta.content && ++n >= 10) break;
  ctl.abort();
  await until(() => server.scheduler.activeCount === 0, 5000, 'the job to end');
  await new Promise((r) => setTimeout(r, 100));
  const rec = await lastRecord();
  assert.is(rec.ended, 'client closed');
  assert.ok(rec.sent < 500, `the worker stopped early (${rec.sent} of 3000 tokens)`);
  assert.is(model().users, 0);
});

test('a worker that dies mid-stream fails that request; the next request starts a new worker', async () => {
  const firstPid = model().worker!.pid;
  await script({ text: 'never finished', dieAt: 2 });
  const broken = await openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  assert.instance(broken, OpenAI.InternalServerError);
  await until(() => model().worker === null, 5000, 'the exit to be noticed');
  assert.ok(logs.some((l) => /mlx-lm worker of tiny-kimi exited \(exit code 1\)/.test(l)), logs.join('\n'));
  const r = await openai.completions.create({ model: 'tiny-kimi', prompt: 'again', max_tokens: 10 });
  assert.is(r.choices[0]!.text, 'again');
  assert.ok(model().worker!.pid !== firstPid);
  assert.is(model().loads, 2);
});

test('a worker that cannot start is a one-line error naming it and what to install; no process is left', async () => {
  const err = await startServer({ models: [{ path: TINY_KIMI, engine: 'mlx-lm' }], port: 0, memoryBytes: 2 ** 30, workerLaunch: launch(['--fail-start', "No module named 'mlx_lm'"]) }).catch((e: unknown) => e);
  assert.instance(err, MlxkError);
  assert.match((err as MlxkError).message, /mlx-lm worker for .*tiny-kimi.* exited \(code 3\) before it was ready: ValueError: No module named 'mlx_lm'/);
  assert.match((err as MlxkError).hint ?? '', /pip install mlx-lm/);
  const missing = await startServer({ models: [{ path: TINY_KIMI, engine: 'mlx-lm' }], port: 0, memoryBytes: 2 ** 30, workerLaunch: { python: '/nonexistent/python3' } }).catch((e: unknown) => e);
  assert.instance(missing, MlxkError);
  assert.match((missing as MlxkError).message, /\/nonexistent\/python3\): no such program/);
});

test('closing the server stops its workers', async () => {
  const s = await startServer({ models: [{ path: TINY_KIMI, engine: 'mlx-lm' }], port: 0, memoryBytes: 2 ** 30, workerLaunch: launch() });
  const pid = s.registry.models[0]!.worker!.pid!;
  assert.ok(alive(pid));
  await s.close();
  assert.not.ok(alive(pid));
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test.run();

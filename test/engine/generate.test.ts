// The decode loop on tiny-kimi with its real tokenizer: what ends generation (stop
// token, stop string, max tokens, context, abort), streaming, stats, prompt rendering
// and cache reuse across chat turns. Expected token ids are transformers' greedy goldens.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { generate, generateStream, type TokenEvent } from '../../lib/engine/generate.js';
import { LanguageModel } from '../../lib/engine/languageModel.js';
import { Sequence } from '../../lib/engine/sequence.js';
import { MlxkError } from '../../lib/io/errors.js';
import { readJson } from '../../lib/io/checkpoint.js';
import { loadModel } from '../../lib/models/load.js';
import { REPO, rejects, TINY_KIMI } from '../helpers.js';
import { Goldens } from '../models/goldenFiles.js';

const lm = await LanguageModel.load(TINY_KIMI);
const goldens = new Goldens(join(TINY_KIMI, 'golden.safetensors'));
const greedy = (readJson(join(TINY_KIMI, 'golden.json')).greedy as { prompt: string; prompt_ids: number[]; new_ids: number[]; new_text: string }[])[0]!;

test('a raw text prompt encodes as [BOS] + text and continues like transformers', async () => {
  const r = await lm.generate({ prompt: greedy.prompt, raw: true }, { temperature: 0, maxTokens: 32 });
  assert.equal(r.promptIds, greedy.prompt_ids);
  assert.equal(r.ids, greedy.new_ids);
  assert.is(r.text, greedy.new_text);
  assert.is(r.finishReason, 'length');
});

test('streamed pieces join to the final text; stats count what happened', async () => {
  const pieces: string[] = [];
  const r = await lm.generate({ ids: greedy.prompt_ids }, { temperature: 0, maxTokens: 20 }, (e) => pieces.push(e.text));
  assert.is(pieces.join(''), r.text);
  assert.is(r.text, lm.tokenizer.decode(r.ids, { skipSpecial: true }));
  const s = r.stats;
  assert.is(s.promptTokens, greedy.prompt_ids.length);
  assert.is(s.generatedTokens, 20);
  assert.ok(s.promptTokensPerSecond > 0 && s.generationTokensPerSecond > 0 && s.timeToFirstTokenSeconds > 0 && s.totalSeconds >= s.timeToFirstTokenSeconds);
  assert.ok(s.peakRssBytes > 10e6);
  assert.is(s.cacheBytes, (greedy.prompt_ids.length + 19) * 4 * (64 + 16) * 4, 'MLA cache: 4 layers × (64 latent + 16 rope) float32 per token');
});

test('logprobs: greedy tokens are the most likely ones, with their log-probabilities', async () => {
  const events: TokenEvent[] = [];
  await lm.generate({ ids: greedy.prompt_ids }, { temperature: 0, maxTokens: 8, logprobs: 3 }, (e) => events.push(e));
  for (const e of events.filter((x) => x.id !== null)) {
    assert.is(e.logprobs!.top.length, 3);
    assert.is(e.logprobs!.top[0]!.tokenId, e.id);
    assert.is(e.logprobs!.top[0]!.logprob, e.logprobs!.logprob);
    assert.ok(e.logprobs!.logprob < 0 && e.logprobs!.top[1]!.logprob <= e.logprobs!.logprob);
  }
});

test('a stop token ends generation and is not part of the output', async () => {
  const stop = greedy.new_ids[5]!;
  const r = await lm.generate({ ids: greedy.prompt_ids }, { temperature: 0, maxTokens: 32, stopTokens: [stop] });
  assert.equal(r.ids, greedy.new_ids.slice(0, 5));
  assert.is(r.finishReason, 'stop');
  assert.equal(r.stoppedBy, { token: stop });
});

test('a stop string spanning tokens cuts the text before it', async () => {
  const r = await lm.generate({ ids: greedy.prompt_ids }, { temperature: 0, maxTokens: 32, stopStrings: ['toctree'] });
  assert.is(r.text, greedy.new_text.split('toctree')[0]);
  assert.is(r.finishReason, 'stop');
  assert.equal(r.stoppedBy, { string: 'toctree' });
  assert.ok(lm.tokenizer.decode(r.ids).includes('toctree'), 'the ids run up to the token that completed the stop string');
});

test('breaking out of the stream or aborting stops after the current step', async () => {
  const controller = new AbortController();
  const seen: number[] = [];
  const it = lm.stream({ ids: greedy.prompt_ids }, { temperature: 0, maxTokens: 32, signal: controller.signal });
  for (;;) {
    const r = await it.next();
    if (r.done) {
      assert.is(r.value.finishReason, 'abort');
      assert.equal(r.value.ids, greedy.new_ids.slice(0, 3));
      break;
    }
    if (r.value.id !== null) seen.push(r.value.id);
    if (seen.length === 3) controller.abort();
  }
});

test('a prompt longer than the context is refused; generation stops at the end of the context', async () => {
  const dir = join(REPO, 'test', 'fixtures', 'models', 'deepseek_v3');
  const { model } = await loadModel(dir, new MlxOps());
  assert.is(model.info.maxContext, 256);
  const long = Array.from({ length: 300 }, (_, i) => i % 500);
  await rejects(() => generate(new Sequence(model), long), (e) => e instanceof MlxkError && /300 tokens do not fit the model's context of 256/.test((e as Error).message));
  const r = await generate(new Sequence(model), long.slice(0, 250), { temperature: 0, maxTokens: 20 });
  assert.is(r.ids.length, 7, '250 prompt tokens + 6 fed back = 256; the 7th token is sampled but never fed');
  assert.is(r.finishReason, 'length');
});

test('chat turns reuse the cached prefix and answer exactly as a fresh run', async () => {
  const seq = lm.newSequence();
  const messages = [{ role: 'user', content: 'What is a tuple?' }];
  const first = await lm.generate({ messages }, { temperature: 0, maxTokens: 12 }, undefined, seq);
  const next = [...messages, { role: 'assistant', content: first.text }, { role: 'user', content: 'And a list?' }];
  const reused = await lm.generate({ messages: next }, { temperature: 0, maxTokens: 12 }, undefined, seq);
  const fresh = await lm.generate({ messages: next }, { temperature: 0, maxTokens: 12 });
  assert.ok(reused.stats.cachedTokens > first.promptIds.length, `cached ${reused.stats.cachedTokens} of ${reused.promptIds.length}`);
  assert.is(reused.stats.cachedTokens + reused.stats.promptTokens, reused.promptIds.length);
  assert.equal(reused.ids, fresh.ids);
  assert.equal(reused.promptIds, fresh.promptIds);
});

test('chat prompts render with the model template; end-of-turn tokens stop generation', () => {
  const ids = lm.promptIds({ prompt: 'hi', system: 'Be brief.' });
  const text = lm.tokenizer.decode(ids);
  assert.is(text, '<|im_system|>system<|im_middle|>Be brief.<|im_end|><|im_user|>user<|im_middle|>hi<|im_end|><|im_assistant|>assistant<|im_middle|>');
  assert.ok(lm.stopTokens.includes(lm.tokenizer.tokenToId('<|im_end|>')!));
  assert.equal(goldens.ints('seq4.input_ids').slice(0, 3), ids.slice(0, 3), 'the golden chat example starts the same way');
});

test('a model directory without tokenizer files runs on ids and explains what is missing for text', async () => {
  const noTok = await LanguageModel.load(join(REPO, 'test', 'fixtures', 'models', 'llama'));
  const r = await noTok.generate({ ids: [1, 2, 3] }, { temperature: 0, maxTokens: 4 });
  assert.is(r.ids.length, 4);
  assert.throws(() => noTok.promptIds({ prompt: 'hi' }), (e: unknown) => e instanceof MlxkError && /no tokenizer \(expected tiktoken\.model or tokenizer\.json\)/.test((e as Error).message));
});

test('max tokens 0 runs nothing; negative is refused', async () => {
  const r = await generate(lm.newSequence(), [4096], { maxTokens: 0 });
  assert.equal(r.ids, []);
  await rejects(() => generate(lm.newSequence(), [4096], { maxTokens: -1 }), /max tokens must be a non-negative integer/);
  await rejects(async () => {
    for await (const _ of generateStream(lm.newSequence(), [4096], { stopStrings: ['x'] })) break;
  }, /stop strings need a tokenizer/);
});

test.run();

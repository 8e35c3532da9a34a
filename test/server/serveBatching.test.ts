// Continuous batching on the real server (--max-active 8): concurrent greedy requests run in
// shared batched steps (seen at the model: forwardBatch with several sequences), join and leave
// the batch as they arrive and finish, and each answers exactly what it answers when it runs
// alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CausalLM } from '../../lib/models/model.js';
import type { TokenSampler } from '../../lib/server/job.js';
import type { ServedModel } from '../../lib/server/registry.js';
import { type Live, startLive, until } from './live.js';

const batchSizes: number[] = [];
const wrapped = new WeakSet<CausalLM>();

/** Greedy, and records the size of every batched step of the model it samples for. */
class RecordingGreedy implements TokenSampler {
  constructor(private readonly served: ServedModel) {}

  sample(logits: Float32Array): number {
    const model = this.served.model;
    if (model && !wrapped.has(model)) {
      wrapped.add(model);
      const inner = model.forwardBatch.bind(model);
      model.forwardBatch = (items, opts) => {
        batchSizes.push(items.length);
        return inner(items, opts);
      };
    }
    return logits.reduce((best, x, i) => (x > logits[best]! ? i : best), 0);
  }
}

let live: Live;
test.before(async () => {
  live = await startLive({ maxActive: 8, samplerFor: (_req, model) => new RecordingGreedy(model) });
});
test.after(() => live.close());

const TOPICS = ['rivers', 'the moon', 'bread', 'chess', 'owls', 'glass', 'winter', 'maps'];

async function ask(topic: string, maxTokens: number): Promise<string> {
  const stream = await live.openai.chat.completions.create({ model: 'tiny-kimi', messages: [{ role: 'user', content: `Write about ${topic}.` }], max_tokens: maxTokens, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  return text;
}

test('8 concurrent greedy streams share batched steps and each gets the text it gets alone', async () => {
  // Different lengths, so requests leave the batch at different steps.
  const lengths = TOPICS.map((_, i) => 6 + 3 * i);
  await ask('warm-up', 2);
  batchSizes.length = 0;
  const together = await Promise.all(TOPICS.map((t, i) => ask(t, lengths[i]!)));
  const sizes = [...batchSizes];
  assert.ok(Math.max(...sizes) >= 6, `largest batch ${Math.max(...sizes)} (sizes ${sizes.join(',')})`);
  assert.ok(sizes.includes(1) || sizes.some((s, i) => i > 0 && s < sizes[i - 1]!), `finished requests leave the batch: ${sizes.join(',')}`);
  const alone: string[] = [];
  for (const [i, t] of TOPICS.entries()) alone.push(await ask(t, lengths[i]!));
  assert.equal(together, alone);
  assert.ok(together.every((t) => t.length > 0));
});

test('a request arriving while others decode joins the running batch at the next step', async () => {
  batchSizes.length = 0;
  const first = ask('rivers', 60);
  await until(() => batchSizes.length >= 3, 10_000, 'the first request decoding');
  const second = ask('owls', 8);
  await Promise.all([first, second]);
  const sizes = [...batchSizes];
  const firstTwo = sizes.indexOf(2);
  assert.ok(firstTwo > 0 && sizes.slice(0, firstTwo).every((s) => s === 1), `one sequence, then two together: ${sizes.join(',')}`);
});

test.run();

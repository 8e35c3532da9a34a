// mlxk's perplexity of the bundled tiny-kimi against the reference golden.json `eval`
// gives (HF transformers, same windowing): bf16 25.343, fp32 25.336 — the full 210
// windows of eval-A.txt (seconds on the native backend, minutes on mlx). A check against transformers'
// own logits: the first 64 tokens of the file are golden seq2 (no BOS, position 0),
// i.e. the first 64-token window, so its perplexity follows from the golden logits.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKENDS, type BackendName, createOps, defaultBackend } from '../../lib/backend/index.js';
import { tokenizeFile } from '../../lib/bench/data.js';
import { evaluatePerplexity } from '../../lib/bench/perplexity.js';
import { planWindows } from '../../lib/bench/windows.js';
import { loadModel } from '../../lib/models/load.js';
import { loadTokenizer } from '../../lib/tokenizer/index.js';
import { TINY_KIMI } from '../helpers.js';
import { Goldens } from '../models/goldenFiles.js';

interface EvalGolden {
  sha256: string;
  chars: number;
  tokens: number;
  n_windows: number;
  tail_tokens_dropped: number;
  float32: { ppl: number; mean_nll: number; scored_tokens: number };
  bf16: { ppl: number; mean_nll: number; scored_tokens: number };
}

const golden = JSON.parse(readFileSync(join(TINY_KIMI, 'golden.json'), 'utf8')) as { eval: EvalGolden };
const ref = golden.eval;
const data = tokenizeFile(join(TINY_KIMI, 'eval-A.txt'), loadTokenizer(TINY_KIMI));
const goldens = new Goldens(join(TINY_KIMI, 'golden.safetensors'));
const load = async (backend?: BackendName) => (await loadModel(TINY_KIMI, createOps(backend))).model;

test('eval-A.txt is read and tokenized as the reference: same bytes, characters, token count and ids', () => {
  assert.is(data.sha256, ref.sha256);
  assert.is(data.chars, ref.chars);
  assert.is(data.ids.length, ref.tokens);
  assert.equal(data.ids.slice(0, 64), goldens.ints('seq2.input_ids'));
  assert.equal(data.ids.slice(2000, 2300), goldens.ints('seq3.input_ids'));
  const plan = planWindows(data.ids, 512);
  assert.equal([plan.windows.length, plan.tailDropped, plan.scoredTokens], [ref.n_windows, ref.tail_tokens_dropped, ref.bf16.scored_tokens]);
});

for (const backend of BACKENDS) {
  test(`first 64-token window on ${backend}: the perplexity transformers' golden logits give`, async () => {
    const ids = goldens.ints('seq2.input_ids');
    const logits = goldens.floats('seq2.logits');
    const vocab = goldens.shape('seq2.logits')[1]!;
    let sum = 0;
    for (let r = 0; r < 63; r++) {
      const row = logits.subarray(r * vocab, (r + 1) * vocab);
      const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
      const lse = max + Math.log(row.reduce((a, b) => a + Math.exp(b - max), 0));
      sum += lse - row[ids[r + 1]!]!;
    }
    const expected = Math.exp(sum / 63);
    const r = await evaluatePerplexity({ models: [await load(backend)], windows: planWindows(data.ids, 64, 1).windows });
    assert.is(r.scoredTokens, 63);
    assert.ok(Math.abs(r.models[0]!.ppl / expected - 1) < 1e-4, `ours ${r.models[0]!.ppl}, from golden logits ${expected}`);
  });
}

test('a model against itself: KL divergence 0, top-1 agreement 100%, equal perplexities', async () => {
  const r = await evaluatePerplexity({ models: [await load()], baseline: await load(), windows: planWindows(data.ids, 128, 2).windows });
  const m = r.models[0]!;
  assert.ok(m.kl!.mean < 1e-9 && m.kl!.max < 1e-6, `KL ${m.kl!.mean}, max ${m.kl!.max}`);
  assert.is(m.top1Agreement, 1);
  assert.is(m.ppl, r.baseline!.ppl);
});

test(`all ${ref.n_windows} windows on the default backend (${defaultBackend()}): within 0.5% of the reference (bf16 ${ref.bf16.ppl.toFixed(3)}, fp32 ${ref.float32.ppl.toFixed(3)})`, async () => {
  const r = await evaluatePerplexity({ models: [await load()], windows: planWindows(data.ids, 512).windows });
  const m = r.models[0]!;
  assert.is(r.scoredTokens, ref.bf16.scored_tokens);
  assert.ok(Math.abs(m.ppl / ref.bf16.ppl - 1) < 0.005, `ppl ${m.ppl} vs bf16 reference ${ref.bf16.ppl}`);
  // Our float32 compute on the bf16 weights is the reference's fp32 run; it agrees far closer.
  assert.ok(Math.abs(m.meanNll - ref.float32.mean_nll) < 1e-4, `mean NLL ${m.meanNll} vs fp32 reference ${ref.float32.mean_nll}`);
});

test.run();

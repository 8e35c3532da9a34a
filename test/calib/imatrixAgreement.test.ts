// mlxk's imatrix against llama.cpp's own (llama-imatrix, test/fixtures/imatrix/README.md) over
// the same 16 windows of 512 tokens of the same text. With YaRN off in both engines they
// compute the same model, so every tensor's Σx² must agree; with the shipped YaRN config the
// engines' rotary embeddings differ (llama.cpp's step ramp for beta_fast = beta_slow), so only
// what layer 0 reads before attention is compared there. The written file must read back as
// the statistics gathered, through the same path `quantize --imatrix` takes.
import { readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createOps } from '../../lib/backend/index.js';
import { openCalibration } from '../../lib/calib/calibText.js';
import { gatherImportance } from '../../lib/calib/imatrix.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { readImatrix, writeImatrix } from '../../lib/io/imatrixFile.js';
import { tensorTable } from '../../lib/models/registry.js';
import { imatrixEntries, importanceFromImatrix } from '../../lib/quant/imatrixModules.js';
import type { ColumnImportance } from '../../lib/quant/stats.js';
import { REPO, tmpDir, TINY_KIMI } from '../helpers.js';

const DIR = join(REPO, 'test', 'fixtures', 'imatrix');
const calib = openCalibration(join(DIR, 'calib.txt'));

/** tiny-kimi with its config's rope_scaling removed (the weights linked, not copied). */
function yarnOff(): string {
  const dir = tmpDir('mlxk-yarn-off-');
  for (const f of readdirSync(TINY_KIMI)) if (f !== 'config.json') symlinkSync(join(TINY_KIMI, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(TINY_KIMI, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete config.rope_scaling;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

async function gather(model: string) {
  return gatherImportance(model, createOps('native'), { calib, seqLen: 512, maxTokens: 8192, passTokens: 8192 });
}

function flat(a: ColumnImportance): ColumnImportance {
  return { cols: a.cols * a.slices, slices: 1, sumSq: a.sumSq, tokens: a.tokens.subarray(0, 1) };
}

/** Σ|a−b| / Σ|b| over one slice. */
function relL1(a: ColumnImportance, b: ColumnImportance, slice: number): number {
  let d = 0;
  let n = 0;
  for (let j = 0; j < a.cols; j++) {
    const x = a.sumSq[slice * a.cols + j]!;
    const y = b.sumSq[slice * b.cols + j]!;
    d += Math.abs(x - y);
    n += Math.abs(y);
  }
  return d / n;
}

test('YaRN off in both engines: every dense tensor within 0.1 %, experts with equal counts within 2 %, routed counts within 0.5 %', async () => {
  const ours = imatrixEntries((await gather(yarnOff())).importance);
  const theirs = readImatrix(join(DIR, 'tiny-kimi-yarn-off.imatrix.gguf')).entries;
  // llama-imatrix leaves out the output head by default; mlxk keeps it (lm_head is quantized too)
  assert.equal([...ours.keys()].filter((n) => !theirs.has(n)), ['output.weight']);
  assert.equal([...theirs.keys()].filter((n) => !ours.has(n)), []);
  let routed = 0;
  let moved = 0;
  for (const [name, tt] of theirs) {
    let o = ours.get(name)!;
    let t = tt;
    // MLA's absorbed k_b / v_b: mlxk keeps one slice per head, llama.cpp one flat row of all heads
    if (o.slices !== t.slices && name.includes('attn_')) [o, t] = [flat(o), flat(t)];
    assert.equal([o.cols, o.slices], [t.cols, t.slices], name);
    for (let s = 0; s < t.slices; s++) {
      if (t.slices > 1 && !name.includes('attn_')) {
        routed += t.tokens[s]!;
        moved += Math.abs(o.tokens[s]! - t.tokens[s]!);
      }
      if (o.tokens[s] !== t.tokens[s]) continue;
      if (t.tokens[s] === 0) continue;
      const bound = t.slices > 1 && !name.includes('attn_') ? 0.02 : 0.001;
      const r = relL1(o, t, s);
      assert.ok(r <= bound, `${name}[${s}]: relative L1 ${r} > ${bound}`);
    }
    if (t.slices === 1 || name.includes('attn_')) assert.equal([...o.tokens], [...t.tokens], `${name}: token counts`);
  }
  // routing is a step function of the activations: near-ties may go either way, but only a few
  assert.ok(moved <= 0.005 * routed, `${moved} of ${routed} routed token counts differ from llama.cpp's`);
  assert.ok(routed > 0);
});

test('shipped config (YaRN): what layer 0 reads before attention agrees within 0.01 %', async () => {
  const ours = imatrixEntries((await gather(TINY_KIMI)).importance);
  const theirs = readImatrix(join(DIR, 'tiny-kimi.imatrix.gguf')).entries;
  for (const name of ['blk.0.attn_q_a.weight', 'blk.0.attn_kv_a_mqa.weight']) {
    const t = theirs.get(name);
    const o = ours.get(name);
    assert.ok(t && o, `${name} in both`);
    assert.equal([...o!.tokens], [...t!.tokens], name);
    const r = relL1(o!, t!, 0);
    assert.ok(r <= 1e-4, `${name}: relative L1 ${r}`);
  }
});

test('imatrix -o round trip: the file written reads back, through quantize --imatrix\'s mapping, as the statistics gathered', async () => {
  const result = await gatherImportance(TINY_KIMI, createOps('native'), { calib: openCalibration('default'), seqLen: 256, maxTokens: 1024, passTokens: 512 });
  const ckpt = Checkpoint.open(TINY_KIMI);
  const table = tensorTable(ckpt.config, 'config.json');
  ckpt.close();
  for (const ext of ['gguf', 'dat']) {
    const file = join(tmpDir('mlxk-imatrix-'), `tiny-kimi.imatrix.${ext}`);
    writeImatrix(file, { entries: imatrixEntries(result.importance), datasets: ['calib'], chunkCount: result.windows, chunkSize: result.seqLen, tokensPerCount: 1 });
    const back = importanceFromImatrix(readImatrix(file), table, file, TINY_KIMI).importance;
    // the router gate stays 16-bit, so the mapping sets its entry aside
    assert.equal([...back.keys()].sort(), [...result.importance.keys()].filter((m) => !m.endsWith('.mlp.gate')).sort(), ext);
    for (const [module, got] of back) {
      const want = result.importance.get(module)!;
      assert.is(got.cols, want.cols, module);
      // per-column mean x² is what the weighted fits read; float32 storage keeps it to ~1e-7
      for (let s = 0; s < want.slices; s++) {
        for (let j = 0; j < want.cols; j += 7) {
          const a = want.tokens[s]! > 0 ? want.sumSq[s * want.cols + j]! / want.tokens[s]! : 0;
          const gs = got.slices === want.slices ? s : 0;
          const b = got.tokens[gs]! > 0 ? got.sumSq[gs * got.cols + j]! / got.tokens[gs]! : 0;
          if (ext === 'gguf' || want.slices === 1) assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(a) + 1e-30, `${ext} ${module}[${s}][${j}]: ${a} vs ${b}`);
        }
      }
    }
  }
});

test.run();

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createOps } from '../../lib/backend/index.js';
import { klDivergence } from '../../lib/bench/logits.js';
import { fitRoleScales, measureKl, proxyTable } from '../../lib/calib/sensitivity.js';
import { loadModel } from '../../lib/models/load.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import { convert } from '../../lib/quant/convert.js';
import { parsePreset } from '../../lib/quant/preset.js';
import type { SensitivityTable } from '../../lib/quant/recipe.js';

const SRC = 'models/tiny-kimi';
// Calibration text written for this repo (never the evaluation text).
const ids = loadTokenizer(SRC).encode(readFileSync('test/fixtures/calib/gptq-calib.txt', 'utf8')).slice(0, 96);

test('measured KL of one unit equals KL(source ‖ a checkpoint quantized only there), computed independently', async () => {
  const ops = createOps('mlx');
  const t = await measureKl({ src: SRC, ops, ids, seqLen: 96, method: 'mse', note: 'test', only: { units: ['lm_head'], options: ['2g64', '4g64', '8g64'] } });
  const kl = t.groups[0]!.loss;
  assert.ok(kl['2g64']! > kl['4g64']! && kl['4g64']! > kl['8g64']!, JSON.stringify(kl));
  // The same unit through the converter and the loader, KL by lib/bench/logits.ts.
  const dst = join(mkdtempSync(join(tmpdir(), 'mlxk-sens-')), 'q');
  const preset = parsePreset({ default: { keep: true }, rules: [{ pattern: '^lm_head$', bits: 4, group_size: 64, method: 'mse' }] }, 'test');
  await convert({ src: SRC, dst, preset });
  const base = (await loadModel(SRC, ops)).model;
  const quant = (await loadModel(dst, ops)).model;
  const a = ops.read(base.forward(ids, base.newCache(), { allLogits: true }));
  const b = ops.read(quant.forward(ids, quant.newCache(), { allLogits: true }));
  let sum = 0;
  for (let r = 0; r < ids.length; r++) sum += klDivergence(a, b, r, base.info.vocabSize);
  const expected = sum / ids.length;
  assert.ok(Math.abs(kl['4g64']! - expected) <= 0.02 * expected, `measured ${kl['4g64']} vs ${expected}`);
});

test('proxy: relative error falls with bits and with smaller groups; role scales multiply it', () => {
  const raw = proxyTable({ src: SRC, method: 'mse', scale: () => 1, sampleRows: 64 });
  const scaled = proxyTable({ src: SRC, method: 'mse', scale: (r) => (r === 'expert' ? 3 : 1), sampleRows: 64 });
  for (const [i, g] of raw.groups.entries()) {
    const l = g.loss;
    assert.ok(l['2g64']! > l['3g64']! && l['3g64']! > l['4g64']! && l['4g64']! > l['8g64']!, g.id);
    assert.ok(l['4g32']! <= l['4g128']!, g.id);
    const f = g.id.includes('switch_mlp') ? 3 : 1;
    assert.ok(Math.abs(scaled.groups[i]!.loss['3g64']! - f * l['3g64']!) < 1e-15);
  }
  // Relative error of a 2-bit affine group of 64 on trained weights: between 5 % and 40 % of the energy.
  assert.ok(raw.groups[0]!.loss['2g64']! > 0.05 && raw.groups[0]!.loss['2g64']! < 0.4);
});

test('role scale fit: the geometric mean of KL ÷ proxy over points above the floor', () => {
  const mk = (source: 'kl' | 'proxy', rows: [string, Record<string, number>][]): SensitivityTable => ({ format: 'mlxk-sensitivity', version: 1, model: 'x', modelType: 'x', source, method: 'mse', note: '', groups: rows.map(([id, loss]) => ({ id, loss })) });
  const kl = mk('kl', [['a', { '2g64': 0.4, '4g64': 0.01, '8g64': 1e-6 }], ['b', { '2g64': 0.2 }]]);
  const proxy = mk('proxy', [['a', { '2g64': 0.1, '4g64': 0.01, '8g64': 1e-4 }], ['b', { '2g64': 0.1 }]]);
  const fit = fitRoleScales(kl, proxy, (id) => (id === 'a' ? 'expert' : 'attn'));
  // expert: ratios 4 and 1 (8g64 is under the floor) → √4 = 2; attn: one ratio, 2.
  assert.ok(Math.abs(fit.get('expert')!.scale - 2) < 1e-12);
  assert.is(fit.get('expert')!.points, 2);
  assert.ok(Math.abs(fit.get('attn')!.scale - 2) < 1e-12);
});

test.run();

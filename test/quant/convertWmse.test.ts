// `wmse` through the converter: each expert's rows are fitted with that expert's imatrix
// row (mean x² per column), an expert no calibration token reached with the layer's
// all-expert mean, a module without statistics with the data-free prior; compared with
// the row quantizer called directly on the source rows.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { convert } from '../../lib/quant/convert.js';
import { uniformPreset } from '../../lib/quant/preset.js';
import { runQuantizeJobJs } from '../../lib/quant/quantizeJob.js';
import { readFloatTensor } from '../../lib/quant/source.js';
import type { ColumnImportance } from '../../lib/quant/stats.js';
import { normal, rejects, rng, runSeed, tmpDir, TINY_KIMI } from '../helpers.js';

const MOD = 'model.layers.1.mlp.switch_mlp.gate_proj';
const EXPERTS = 16;

function stats(cols: number, next: () => number): ColumnImportance {
  const sumSq = Float32Array.from(normal(EXPERTS * cols, 1, next), (z) => Math.exp(z) * 50);
  const tokens = Float64Array.from({ length: EXPERTS }, (_, e) => (e === 3 ? 0 : 10 + e));
  sumSq.fill(0, 3 * cols, 4 * cols);
  return { cols, slices: EXPERTS, sumSq, tokens };
}

test('wmse with an imatrix: per-expert rows, the layer mean for an expert with no tokens, the prior elsewhere', async () => {
  const next = rng(runSeed());
  const src = Checkpoint.open(TINY_KIMI);
  const expert = (e: number) => readFloatTensor(src, `model.layers.1.mlp.experts.${e}.gate_proj.weight`);
  const rowsPer = expert(0).length / src.info('model.layers.1.mlp.experts.0.gate_proj.weight').shape[1]!;
  const cols = expert(0).length / rowsPer;
  const ci = stats(cols, next);
  const dst = join(tmpDir(), 'wmse');
  const report = await convert({ src: TINY_KIMI, dst, preset: uniformPreset(3, 64, 'wmse'), threads: 2, importance: new Map([[MOD, ci]]) });
  assert.is(report.tensors.find((t) => t.name === `${MOD}.weight`)!.method, 'wmse (imatrix × uniform prior)');
  assert.match(report.tensors.find((t) => t.name === 'lm_head.weight')!.method!, /wmse \(no imatrix: x2 prior\)/);
  const out = Checkpoint.open(dst);
  const words = new Uint32Array(out.read(`${MOD}.weight`).buffer.slice(0));
  const scales = readFloatTensor(out, `${MOD}.scales`);
  const mean = (e: number) => Float32Array.from({ length: cols }, (_, j) => ci.sumSq[e * cols + j]! / ci.tokens[e]!);
  const all = new Float64Array(cols);
  for (let e = 0; e < EXPERTS; e++) for (let j = 0; j < cols; j++) all[j] += ci.sumSq[e * cols + j]!;
  const tokens = ci.tokens.reduce((a, b) => a + b, 0);
  const layerMean = Float32Array.from(all, (v) => v / tokens);
  const wpe = (rowsPer * cols * 3) / 32;
  const spe = (rowsPer * cols) / 64;
  for (const [e, imp] of [[0, mean(0)], [3, layerMean], [9, mean(9)]] as const) {
    const ref = runQuantizeJobJs({ w: expert(e), rows: rowsPer, cols, bits: 3, groupSize: 64, method: 'wmse', dtype: 'BF16', importance: imp });
    assert.equal(Array.from(words.subarray(e * wpe, (e + 1) * wpe)), Array.from(ref.words), `expert ${e} words`);
    assert.equal(Array.from(scales.subarray(e * spe, (e + 1) * spe)), Array.from(ref.scales), `expert ${e} scales`);
    // Another expert's statistics give other codes: the row used is the expert's own.
    const other = runQuantizeJobJs({ w: expert(e), rows: rowsPer, cols, bits: 3, groupSize: 64, method: 'wmse', dtype: 'BF16', importance: mean(e === 9 ? 0 : 9) });
    assert.not.equal(Array.from(other.scales), Array.from(ref.scales), `expert ${e}: statistics make a difference`);
  }
  const head = readFloatTensor(src, 'lm_head.weight');
  const headCols = src.info('lm_head.weight').shape[1]!;
  const refHead = runQuantizeJobJs({ w: head, rows: head.length / headCols, cols: headCols, bits: 3, groupSize: 64, method: 'wmse', dtype: 'BF16' });
  assert.equal(Array.from(readFloatTensor(out, 'lm_head.scales')), Array.from(refHead.scales), 'lm_head: the data-free prior');
  out.close();
  src.close();
});

test('an imatrix whose shape does not fit the weight is a one-line error naming the module', async () => {
  const next = rng(runSeed());
  const bad = stats(100, next);
  await rejects(
    () => convert({ src: TINY_KIMI, dst: join(tmpDir(), 'bad'), preset: uniformPreset(3, 64, 'wmse'), threads: 1, importance: new Map([[MOD, bad]]) }),
    (e) => e instanceof MlxkError && e.message.startsWith(`imatrix entry for ${MOD}: 16 × 100 columns does not fit`) && !e.message.includes('\n'),
  );
});

test.run();

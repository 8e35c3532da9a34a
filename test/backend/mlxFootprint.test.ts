// The bytes mlxk says a model's weights take on each backend (lib/models/footprint.ts) against what
// loading it does to the resident set: a small synthetic Kimi quantized with kimi-k2.5-2.5bit
// (2-bit experts, 3-bit down projections in the sensitive layers, 8-bit attention) loaded on the
// mlx backend in a fresh process (mlxLoadProbe.ts). glibc keeps freed load intermediates in its heap
// unless told to return them (MALLOC_MMAP_THRESHOLD_), which would count the allocator's cache as
// weights; the probe runs with it set. serve's budget and generate's pre-load check use these bytes.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkFits } from '../../lib/cli/generate.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { residentWeightBytes } from '../../lib/models/footprint.js';
import { convert } from '../../lib/quant/convert.js';
import { loadPreset } from '../../lib/quant/preset.js';
import { MLXK, REPO, tmpDir } from '../helpers.js';

const work = tmpDir('mlxk-footprint-');
const src = join(work, 'src');
const dst = join(work, 'kimi-2.5bit');

test.before(async () => {
  const r = spawnSync(process.execPath, [MLXK, 'synth', 'kimi_k2', src, '--layers', '4', '--experts', '32', '--hidden', '512', '--moe-intermediate', '256', '--intermediate', '1024', '--vocab', '4096', '--heads', '4', '--quiet'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  await convert({ src, dst, preset: loadPreset('kimi-k2.5-2.5bit'), threads: 1 });
});

test('stored bytes are the tensors as written; the mlx footprint adds the 4-bit codes of its 3-bit modules and float32 dense weights', () => {
  const ckpt = Checkpoint.open(dst);
  const stored = residentWeightBytes(ckpt, 'stored');
  const mlx = residentWeightBytes(ckpt, 'mlx');
  assert.is(stored, ckpt.dataBytes, 'every tensor of the text model is counted once');
  // Each 3-bit down_proj stack [32, 512, 256] grows from 3/8 to 4/8 byte per value.
  const threeBit = Object.entries(ckpt.config.quantization as Record<string, unknown>).filter(([k, v]) => k.endsWith('down_proj') && (v as { bits?: number }).bits === 3).length;
  assert.ok(threeBit >= 1, 'the preset put some down projections at 3 bits');
  let widenedDense = 0;
  for (const [name, t] of ckpt.tensors) {
    const quantizedPart = name.endsWith('.scales') || name.endsWith('.biases') || ckpt.has(name.replace(/\.weight$/, '.scales'));
    if (!quantizedPart && t.dtype === 'BF16') widenedDense += (t.end - t.start) * 1; // 2 → 4 bytes per value
  }
  assert.is(mlx - stored, threeBit * 32 * 512 * 256 * (4 / 8 - 3 / 8) + widenedDense);
  ckpt.close();
});

test('on the mlx backend the resident set grows by the predicted bytes (within 10%)', () => {
  const r = spawnSync(process.execPath, [join(REPO, 'dist', 'test', 'backend', 'mlxLoadProbe.js'), dst], { encoding: 'utf8', env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' } });
  assert.is(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { fileBytes: number; predicted: number; growth: number; heapGrowth: number; peakGrowth: number };
  const weights = m.growth - m.heapGrowth;
  const off = Math.abs(weights - m.predicted) / m.predicted;
  console.log(`  file ${(m.fileBytes / 1e6).toFixed(1)} MB, predicted ${(m.predicted / 1e6).toFixed(1)} MB, RSS growth ${(m.growth / 1e6).toFixed(1)} MB of which V8 heap ${(m.heapGrowth / 1e6).toFixed(1)} MB (${(off * 100).toFixed(1)}% off), load peak ${(m.peakGrowth / 1e6).toFixed(1)} MB = ${(m.peakGrowth / m.fileBytes).toFixed(2)}× the file`);
  assert.ok(off <= 0.1, JSON.stringify(m));
  // 3-bit codes held at 4 bits, rewritten through a file (repack.ts): the peak is the resident size.
  assert.ok(m.peakGrowth <= 1.3 * m.fileBytes, JSON.stringify(m));
});

test('generate refuses a model that would not fit, naming the native backend when the mlx backend is what widens it', () => {
  const ckpt = Checkpoint.open(dst);
  const stored = residentWeightBytes(ckpt, 'stored');
  ckpt.close();
  const memory = (stored / 0.9) * 1.05; // fits as stored, not as widened by the mlx backend
  assert.not.throws(() => checkFits(dst, 'native', memory));
  assert.throws(() => checkFits(dst, 'mlx', memory), (e: unknown) => e instanceof MlxkError && /on the mlx backend/.test(e.message) && /native backend/.test(e.hint ?? ''));
});

test.run();

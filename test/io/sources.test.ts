import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { F8_E4M3_TABLE, f32ToE4m3 } from '../../lib/io/dtype.js';
import { decodeInt4Rows, decodeNvfp4Rows, encodeInt4, encodeNvfp4 } from '../../lib/io/sources/compressedTensors.js';
import { decodeFp8BlockRows, encodeFp8Block } from '../../lib/io/sources/fp8Block.js';
import { synthConfig } from '../../lib/cli/synth.js';
import { synthesize } from '../../lib/models/synth.js';
import { dequantize } from '../../lib/quant/affine.js';
import { convert } from '../../lib/quant/convert.js';
import { uniformPreset } from '../../lib/quant/preset.js';
import { openTensor, readFloatTensor } from '../../lib/quant/source.js';
import { normal, rng, runSeed, tmpDir } from '../helpers.js';

test('fp8 e4m3 encoding: round to nearest even code, saturate at 448, and decode(encode(x)) == x on every code', () => {
  for (let b = 0; b < 256; b++) {
    const v = F8_E4M3_TABLE[b]!;
    if (Number.isNaN(v)) continue;
    const back = f32ToE4m3(v);
    assert.is(F8_E4M3_TABLE[back], v, `code 0x${b.toString(16)}`);
  }
  assert.is(f32ToE4m3(1000), 0x7e);
  assert.is(f32ToE4m3(-1000), 0xfe);
  // 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39): ties to the even code 0x38.
  assert.is(f32ToE4m3(1.0625), 0x38);
  assert.is(f32ToE4m3(1.1875), 0x3a);
});

test('fp8 block decode: hand values, partial blocks at the edges, and rows from the middle', () => {
  // 3×2 tensor with 2×1 blocks: scale_inv [[2, 3], [5, 7]] (ceil(3/2)=2 block rows, 2 block cols).
  const weight = Uint8Array.from([0x38, 0x40, 0xb8, 0x30, 0x38, 0x38]); // 1, 2, -1, 0.5, 1, 1
  const scaleInv = Float32Array.from([2, 3, 5, 7]);
  assert.equal(Array.from(decodeFp8BlockRows(weight, scaleInv, 0, 3, 2, [2, 1])), [2, 6, -2, 1.5, 5, 7]);
  assert.equal(Array.from(decodeFp8BlockRows(weight.subarray(4), scaleInv, 2, 1, 2, [2, 1])), [5, 7]);
  const seed = runSeed();
  const w = normal(200 * 300, 0.02, rng(seed));
  const enc = encodeFp8Block(w, 200, 300);
  assert.is(enc.scaleInv.length, 2 * 3);
  const dec = decodeFp8BlockRows(enc.weight, enc.scaleInv, 0, 200, 300, [128, 128]);
  for (let i = 0; i < w.length; i++) {
    const blockMax = enc.scaleInv[Math.floor(Math.floor(i / 300) / 128) * 3 + Math.floor((i % 300) / 128)]! * 448;
    // E4M3 has 3 mantissa bits: relative error ≤ 2^-4, plus the subnormal floor 2^-10 of the block scale.
    assert.ok(Math.abs(dec[i]! - w[i]!) <= Math.abs(w[i]!) / 16 + (blockMax / 448) * 2 ** -10, `i ${i} seed ${seed}`);
  }
});

test('compressed-tensors INT4: nibble i of word k is column 8k+i, stored as q+8; zero points subtract', () => {
  // word 0x76543210 → nibbles 0..7 → q = -8..-1; word 0xfedcba98 → q = 0..7
  const packed = new Uint8Array(new Uint32Array([0x76543210, 0xfedcba98]).buffer);
  const out = decodeInt4Rows(packed, Float32Array.from([0.5]), 1, 16, 16);
  assert.equal(Array.from(out), [-4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
  const zp = decodeInt4Rows(packed, Float32Array.from([1, 1]), 1, 16, 8, Float32Array.from([1, -1]));
  assert.equal(Array.from(zp).slice(0, 2), [-9, -8]);
  assert.equal(Array.from(zp).slice(8, 10), [1, 2]);
  const seed = runSeed();
  const w = normal(8 * 64, 0.02, rng(seed));
  const { packed: p2, scales } = encodeInt4(w, 8, 64, 32, Math.fround);
  const back = decodeInt4Rows(p2, scales, 8, 64, 32);
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(back[i]! - w[i]!) <= scales[Math.floor(i / 32)]! / 2 + 1e-9, `seed ${seed}`);
});

test('NVFP4: E2M1 codes low nibble first, w = e2m1 · e4m3(scale) / global_scale', () => {
  // byte 0x2f: low nibble 0xf = −6, high nibble 0x2 = +1; block scale e4m3 0x38 = 1; global 2.
  const packed = new Uint8Array(8);
  packed[0] = 0x2f;
  const out = decodeNvfp4Rows(packed, Uint8Array.from([0x38]), 2, 1, 16);
  assert.equal(Array.from(out.subarray(0, 3)), [-3, 0.5, 0]);
  const seed = runSeed();
  const w = normal(4 * 64, 0.02, rng(seed));
  const enc = encodeNvfp4(w, 4, 64);
  const back = decodeNvfp4Rows(enc.packed, enc.scales, enc.globalScale, 4, 64);
  let err = 0;
  let ref = 0;
  for (let i = 0; i < w.length; i++) {
    err += (back[i]! - w[i]!) ** 2;
    ref += w[i]! ** 2;
  }
  assert.ok(Math.sqrt(err / ref) < 0.2, `relative RMS ${Math.sqrt(err / ref)} (seed ${seed})`);
});

function synthSmall(format: 'float' | 'fp8' | 'int4' | 'nvfp4', seed: number): string {
  const dir = tmpDir();
  synthesize({ config: synthConfig('kimi_k2', { layers: '2', format, seed: '0', std: '0.02', shardSize: '5GiB' }), out: dir, format, seed });
  return dir;
}

test('INT4 group-32 source → MLX 4-bit group 32 is a lossless remap (same words, bias = −8·scale)', async () => {
  const seed = runSeed();
  const src = synthSmall('int4', seed);
  const dst = join(tmpDir(), 'out');
  const report = await convert({ src, dst, preset: uniformPreset(4, 32), threads: 1 });
  const expert = report.tensors.find((t) => t.name.includes('switch_mlp.up_proj'))!;
  assert.ok(expert.lossless, 'expert tensors take the remap path');
  assert.is(expert.relRmsError, 0);
  const s = Checkpoint.open(src);
  const o = Checkpoint.open(dst);
  const name = 'model.layers.1.mlp.switch_mlp.up_proj';
  const e0 = 'model.layers.1.mlp.experts.0.up_proj';
  const rows = s.info(`${e0}.weight_packed`).shape[0]!;
  const srcWords = new Uint32Array(s.read(`${e0}.weight_packed`).buffer.slice(0));
  const outWords = new Uint32Array(o.read(`${name}.weight`).buffer.slice(0));
  assert.equal(Array.from(outWords.subarray(0, srcWords.length)), Array.from(srcWords), `seed ${seed}`);
  const scales = readFloatTensor(o, `${name}.scales`);
  const biases = readFloatTensor(o, `${name}.biases`);
  for (let i = 0; i < scales.length; i++) assert.is(biases[i], -8 * scales[i]!);
  const cols = 256;
  const deq = dequantize(outWords, scales, biases, rows, cols, 4, 32);
  const ref = openTensor(s, `${e0}.weight`, [rows, cols]).readRows(0, rows);
  assert.equal(Array.from(deq.subarray(0, rows * cols)), Array.from(ref), 'dequantized output equals the dequantized source exactly');
  s.close();
  o.close();
});

for (const format of ['fp8', 'nvfp4', 'int4'] as const) {
  test(`${format} source requantized to 8 and 3 bits stays within the expected error of the decoded source`, async () => {
    const seed = runSeed();
    const src = synthSmall(format, seed);
    for (const [bits, bound] of [[8, 0.01], [3, 0.25]] as const) {
      const dst = join(tmpDir(), `q${bits}`);
      const report = await convert({ src, dst, preset: uniformPreset(bits, 64), threads: 1 });
      for (const t of report.tensors) {
        if (t.relRmsError !== null) assert.ok(t.relRmsError < bound, `${format}→${bits}-bit ${t.name}: ${t.relRmsError} (seed ${seed})`);
      }
      assert.ok(report.tensors.some((t) => t.bits === bits));
    }
  });
}

test.run();

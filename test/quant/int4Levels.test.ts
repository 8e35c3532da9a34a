// compressed-tensors INT4 checkpoints with few levels per group (GSQ's 2-bit in the 4-bit box)
// and with group 128, written by synth: the converter copies them as exact 2/3/4-bit MLX, each
// expert tensor's float32 dequantization equal to the source's, and inspect counts them.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectModel } from '../../lib/cli/inspect.js';
import { synthConfig } from '../../lib/cli/synth.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { roundBf16 } from '../../lib/io/dtype.js';
import { dequantize } from '../../lib/quant/affine.js';
import { convert } from '../../lib/quant/convert.js';
import { int4LevelBits } from '../../lib/quant/int4Levels.js';
import { uniformPreset } from '../../lib/quant/preset.js';
import { openTensor, readFloatTensor } from '../../lib/quant/source.js';
import { synthesize } from '../../lib/models/synth.js';
import { runSeed, tmpDir } from '../helpers.js';

function synthInt4(groupSize: number, levels: number, seed: number): string {
  const dir = tmpDir();
  synthesize({ config: synthConfig('kimi_k2', { layers: '2', format: 'int4', seed: '0', std: '0.02', shardSize: '5GiB' }), out: dir, format: 'int4', seed, int4: { groupSize, levels } });
  return dir;
}

const PROJ = ['gate_proj', 'up_proj', 'down_proj'];

/** Every expert of layer 1: the output's dequantization equals the source's, value for value. */
function assertExact(src: string, dst: string, bits: number, gs: number): void {
  const s = Checkpoint.open(src);
  const o = Checkpoint.open(dst);
  for (const p of PROJ) {
    const mod = `model.layers.1.mlp.switch_mlp.${p}`;
    const shape = o.info(`${mod}.scales`).shape;
    const [experts, rows] = [shape[0]!, shape[1]!];
    const cols = shape[2]! * gs;
    assert.equal(o.info(`${mod}.weight`).shape, [experts, rows, (cols * bits) / 32], `${mod} is ${bits}-bit`);
    const deq = dequantize(new Uint32Array(o.read(`${mod}.weight`).buffer.slice(0)), readFloatTensor(o, `${mod}.scales`), readFloatTensor(o, `${mod}.biases`), experts * rows, cols, bits, gs);
    for (let e = 0; e < experts; e++) {
      const ref = openTensor(s, `model.layers.1.mlp.experts.${e}.${p}.weight`, [rows, cols]).readRows(0, rows);
      const got = deq.subarray(e * rows * cols, (e + 1) * rows * cols);
      for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) assert.unreachable(`${mod} expert ${e} value ${i}: ${got[i]} ≠ source ${ref[i]}`);
    }
  }
  s.close();
  o.close();
}

for (const [levels, bits] of [[4, 2], [8, 3]] as const) {
  test(`INT4 g128 with ${levels} levels per group → exact ${bits}-bit g128 MLX under a 4-bit request; inspect says so`, async () => {
    const src = synthInt4(128, levels, runSeed());
    const info = inspectModel(src);
    assert.equal(info.int4_levels, { [`${bits}-bit g128`]: 3 });
    const dst = join(tmpDir(), 'out');
    const report = await convert({ src, dst, preset: uniformPreset(4, 64), threads: 1 });
    for (const p of PROJ) {
      const t = report.tensors.find((x) => x.name === `model.layers.1.mlp.switch_mlp.${p}.weight`)!;
      assert.equal([t.bits, t.groupSize, t.method, t.lossless, t.relRmsError], [bits, 128, 'int4-remap', true, 0]);
    }
    assertExact(src, dst, bits, 128);
    const expert = (inspectModel(dst).roles as Record<string, { params: number; stored_as: Record<string, number> }>).expert!;
    assert.equal(expert.stored_as, { [`${bits}-bit g128`]: expert.params });
  });
}

test('INT4 g128 with all 16 levels → exact 4-bit g128 under a 4-bit g64 request; a 3-bit request on 8 levels is exact, a 2-bit one re-quantizes', async () => {
  const seed = runSeed();
  const src16 = synthInt4(128, 16, seed);
  const dst = join(tmpDir(), 'out16');
  const report = await convert({ src: src16, dst, preset: uniformPreset(4, 64), threads: 1 });
  assert.ok(report.tensors.filter((t) => t.name.includes('switch_mlp')).every((t) => t.lossless && t.bits === 4 && t.groupSize === 128));
  assertExact(src16, dst, 4, 128);
  const src8 = synthInt4(128, 8, seed);
  const r3 = await convert({ src: src8, dst: join(tmpDir(), 'out3'), preset: uniformPreset(3, 64), threads: 1 });
  assert.ok(r3.tensors.filter((t) => t.name.includes('switch_mlp')).every((t) => t.lossless && t.bits === 3 && t.groupSize === 128));
  const r2 = await convert({ src: src8, dst: join(tmpDir(), 'out2'), preset: uniformPreset(2, 64), threads: 1 });
  assert.ok(r2.tensors.filter((t) => t.name.includes('switch_mlp')).every((t) => !t.lossless && t.bits === 2 && t.groupSize === 64));
});

test('a group whose bias (c0 − 8)·scale is not exact in bf16 at any offset needs the next width', () => {
  // One row, one group of 32: codes 1..4 (4 levels) with scale 1 + 2⁻⁷ (full bf16 mantissa): c0 = 1 gives
  // bias −7·s = −7.0546875, which needs 10 significant bits; bf16 has 8, so 2 bits are not exact. At 3 bits,
  // c0 may go down to 4 − 7 < 0 → 0: bias −8·s is exact.
  const s = 1 + 2 ** -7;
  assert.is(roundBf16(s), s);
  const bytes = new Uint8Array(16);
  for (let c = 0; c < 32; c++) bytes[c >> 1]! |= (1 + (c % 4)) << (c & 1 ? 4 : 0);
  const words = new Uint32Array(bytes.buffer);
  assert.is(int4LevelBits(words, Float32Array.of(s), 1, 32, 32, roundBf16), 3);
  // The same codes with scale 1 (−7 exact) are 2-bit.
  assert.is(int4LevelBits(words, Float32Array.of(1), 1, 32, 32, roundBf16), 2);
});

test.run();

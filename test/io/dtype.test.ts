import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bf16BitsToF32, F8_E4M3_TABLE, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../lib/io/dtype.js';

test('bf16 rounding is round-to-nearest-even on hand-picked bit patterns', () => {
  // 1 + 2^-8 lies exactly halfway between bf16 1.0 (0x3f80) and 1+2^-7 (0x3f81): ties to even → 0x3f80.
  assert.is(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  // 1 + 3·2^-8 is halfway between 0x3f81 and 0x3f82: ties to even → 0x3f82.
  assert.is(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.is(f32ToBf16Bits(-2), 0xc000);
  assert.is(bf16BitsToF32(0x3fc0), 1.5);
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
});

test('f16 encode/decode round-trips every finite half value', () => {
  for (let h = 0; h < 0x10000; h++) {
    const exp = (h >>> 10) & 0x1f;
    if (exp === 31) continue;
    const v = f16BitsToF32(h);
    const back = f32ToF16Bits(v);
    if (back !== h && !(v === 0 && (back & 0x7fff) === 0)) assert.unreachable(`half 0x${h.toString(16)} → ${v} → 0x${back.toString(16)}`);
  }
  assert.is(f32ToF16Bits(65520), 0x7c00, 'overflow rounds to infinity');
  assert.is(f16BitsToF32(0x3c00), 1);
  assert.is(f16BitsToF32(0x0001), 2 ** -24);
});

test('fp8 e4m3 table matches the OCP definition at known points', () => {
  assert.is(F8_E4M3_TABLE[0x7e], 448, 'max normal');
  assert.is(F8_E4M3_TABLE[0x38], 1);
  assert.is(F8_E4M3_TABLE[0x01], 2 ** -9, 'smallest subnormal');
  assert.is(F8_E4M3_TABLE[0xb8], -1);
  assert.ok(Number.isNaN(F8_E4M3_TABLE[0x7f]!));
  assert.ok(Number.isNaN(F8_E4M3_TABLE[0xff]!));
});

test.run();

// denseMatmul over bf16/f16/f32 weights (in memory at odd offsets, and memory-mapped):
// float32 arithmetic throughout, held to γ_{k+1}·Σ|x·w| around the float64 product.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { denseMatmul, setIsa, supportedIsas, type ScaleDtype } from '../../lib/backend/native/addon.js';
import { MappedSafetensors } from '../../lib/backend/native/mapped.js';
import { decodeFloats, encodeFloats, type DType } from '../../lib/io/dtype.js';
import { freshSeed, gamma, misaligned, randomActivations, rng } from './reference.js';

const DTYPE: Record<ScaleDtype, DType> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };

test('dense bf16/f16/f32 matmul matches the float64 product on every kernel set', () => {
  for (const dtype of ['bf16', 'f16', 'f32'] as const) {
    // M = 1…24 take the AVX-512 register-tile path (4 × 4 tiles and their 1-3 row remainders), 33 the panels.
    for (const [m, n, k] of [[1, 37, 700], [5, 9, 1031], [8, 13, 255], [15, 7, 64], [16, 41, 300], [23, 6, 48], [33, 70, 96]] as const) {
      const seed = freshSeed();
      const rand = rng(seed);
      const w32 = Float32Array.from({ length: n * k }, () => (rand() - 0.5) * 0.2);
      const bytes = encodeFloats(DTYPE[dtype], w32);
      const w = new Float32Array(n * k);
      decodeFloats(DTYPE[dtype], bytes, 0, n * k, w);
      const x = randomActivations(rand, m, k);
      for (const isa of supportedIsas()) {
        setIsa(isa);
        const out = denseMatmul(x, m, { weights: misaligned(bytes, rand), n, k, dtype }, new Float32Array(m * n).fill(NaN));
        for (let r = 0; r < m; r++) {
          for (let j = 0; j < n; j++) {
            let exact = 0;
            let abs = 0;
            for (let i = 0; i < k; i++) {
              exact += x[r * k + i]! * w[j * k + i]!;
              abs += Math.abs(x[r * k + i]! * w[j * k + i]!);
            }
            const got = out[r * n + j]!;
            if (!(Math.abs(got - exact) <= gamma(k + 1) * abs)) assert.unreachable(`[seed ${seed}] ${isa} ${dtype} m=${m} n=${n} k=${k} out[${r}, ${j}] = ${got}, expected ${exact}`);
          }
        }
      }
    }
  }
  setIsa('auto');
});

test('a mapped bf16 tensor is used in place', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlxk-dense-'));
  try {
    const rand = rng(freshSeed());
    const [n, k] = [11, 160];
    const bytes = encodeFloats('BF16', Float32Array.from({ length: n * k }, () => rand() - 0.5));
    const header = JSON.stringify({ odd: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, w: { dtype: 'BF16', shape: [n, k], data_offsets: [1, 1 + bytes.length] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const path = join(dir, 'dense.safetensors');
    writeFileSync(path, Buffer.concat([len, Buffer.from(header), Buffer.from([7]), bytes]));
    const st = MappedSafetensors.open(path);
    const ref = st.dense('w');
    assert.equal([ref.n, ref.k, ref.dtype], [n, k, 'bf16']);
    const x = randomActivations(rand, 2, k);
    const a = denseMatmul(x, 2, ref);
    const b = denseMatmul(x, 2, { weights: bytes, n, k, dtype: 'bf16' });
    assert.equal([...a], [...b]);
    assert.throws(() => st.dense('odd'), /expected a 2-D BF16, F16 or F32 tensor/);
    st.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

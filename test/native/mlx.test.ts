// The kernels against MLX's own quantizedMatmul (@frost-beta/mlx, float32 on CPU) on
// weights quantized by mx.quantize and saved by MLX, read here through the memory map.
// MLX 0.0.7 limits: 2/4/8 bits only, K ≥ 512 (2-bit), 256 (4-bit), 128 (8-bit).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { qmatmul, setIsa, supportedIsas } from '../../lib/backend/native/addon.js';
import { MappedSafetensors } from '../../lib/backend/native/mapped.js';
import { loadMlx } from '../../lib/backend/mlx/load.js';
import { decodeFloats } from '../../lib/io/dtype.js';
import { unpack } from '../../lib/quant/affine.js';
import { expect, freshSeed, gamma, quantizeActivationsJs, randomActivations, rng, type Problem } from './reference.js';

const mx = loadMlx().core;
const dir = mkdtempSync(join(tmpdir(), 'mlxk-mlx-'));

const CASES: { bits: 2 | 4 | 8; k: number; gs: 32 | 64 | 128; n: number; m: number; bf16: boolean }[] = [
  { bits: 2, k: 576, gs: 64, n: 45, m: 1, bf16: true },
  { bits: 2, k: 512 + 128, gs: 128, n: 13, m: 7, bf16: false },
  { bits: 4, k: 320, gs: 32, n: 37, m: 1, bf16: false },
  { bits: 4, k: 384, gs: 128, n: 70, m: 9, bf16: true },
  { bits: 8, k: 192, gs: 64, n: 3, m: 1, bf16: true },
  { bits: 8, k: 160, gs: 32, n: 67, m: 33, bf16: false },
];

test('qmatmul matches mx.quantizedMatmul on MLX-quantized, MLX-written weights', () => {
  for (const c of CASES) {
    const seed = freshSeed();
    const rand = rng(seed);
    const rows = Array.from({ length: c.n }, () => Array.from({ length: c.k }, () => (rand() - 0.5) * 0.1));
    const w = mx.array(rows, c.bf16 ? mx.bfloat16 : mx.float32);
    const [wq, scales, biases] = mx.quantize(w, c.gs, c.bits) as unknown as [never, never, never];
    const path = join(dir, `q${c.bits}-${c.gs}.safetensors`);
    mx.saveSafetensors(path, { 'l.weight': wq, 'l.scales': scales, 'l.biases': biases }, { format: 'mlx' });
    const x = randomActivations(rand, c.m, c.k);
    const xs = Array.from({ length: c.m }, (_, r) => Array.from(x.subarray(r * c.k, (r + 1) * c.k)));
    const yMlx = (mx.quantizedMatmul(mx.array(xs, mx.float32), wq, scales, biases, true, c.gs, c.bits).tolist() as number[][]).flat();

    const st = MappedSafetensors.open(path);
    const ref = st.quantized('l', c.bits, c.gs);
    assert.is(ref.scaleDtype, c.bf16 ? 'bf16' : 'f32');
    // The float64 expectation from the mapped bytes, decoded by lib/quant/affine.ts.
    const wt = st.tensor('l.weight');
    const words = new Uint32Array(new Uint8Array(st.file.read(wt.bytes.offset, wt.byteLength)).buffer);
    const groups = c.n * (c.k / c.gs);
    const decode = (name: string) => {
      const t = st.tensor(name);
      const out = new Float32Array(groups);
      decodeFloats(t.dtype, st.file.read(t.bytes.offset, t.byteLength), 0, groups, out);
      return out;
    };
    const p: Problem = { n: c.n, k: c.k, bits: c.bits, groupSize: c.gs, experts: 1, q: unpack(words, c.n, c.k, c.bits), scales: decode('l.scales'), biases: decode('l.biases'), ref };
    for (const [isa, activationBits] of supportedIsas().flatMap((i) => [[i, 8] as const, [i, 16] as const])) {
      const act = quantizeActivationsJs(x, c.m, c.k, activationBits);
      setIsa(isa);
      const ours = qmatmul(x, c.m, ref, new Float32Array(c.m * c.n).fill(NaN), { activationBits });
      for (let r = 0; r < c.m; r++) {
        for (let j = 0; j < c.n; j++) {
          const e = expect(p, x, r * c.k, act, r, j);
          // Ours is within tolExact of the exact product; MLX (float32, own order) within γ_{k+2}·Σ|x·w|.
          const tol = e.tolExact + gamma(c.k + 2) * e.absSum;
          const a = ours[r * c.n + j]!;
          const b = yMlx[r * c.n + j]!;
          if (!(Math.abs(a - b) <= tol)) assert.unreachable(`[seed ${seed}] ${isa} a${activationBits} ${c.bits}-bit g${c.gs} out[${r}, ${j}] = ${a}, MLX ${b} ± ${tol}`);
          if (!(Math.abs(a - e.quantized) <= e.tolQuantized)) assert.unreachable(`[seed ${seed}] ${isa} ${c.bits}-bit: ${a} vs int8 reference ${e.quantized}`);
        }
      }
    }
    st.close();
  }
  setIsa('auto');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

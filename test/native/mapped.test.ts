// Memory-mapped safetensors: tensors used in place at unaligned offsets give the
// same bits as the same bytes in a Buffer; bad ranges and closed files are errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mapFile, qmatmul } from '../../lib/backend/native/addon.js';
import { MappedSafetensors } from '../../lib/backend/native/mapped.js';
import { SafetensorsFile } from '../../lib/io/safetensors.js';
import { freshSeed, randomActivations, randomWeights, rng } from './reference.js';

const dir = mkdtempSync(join(tmpdir(), 'mlxk-mapped-'));

/** A safetensors file whose tensors all start at odd offsets (3-byte padding tensors between them). */
function writeUnaligned(path: string, tensors: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'mlx' } };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[`pad.${name}`] = { dtype: 'U8', shape: [3], data_offsets: [offset, offset + 3] };
    parts.push(new Uint8Array([0xee, 0xee, 0xee]));
    offset += 3;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    parts.push(t.bytes);
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 4 !== 2) json += ' '; // data section starts at 2 mod 4, the first tensor at 1 mod 4
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...parts]));
}

test('a quantized layer used in place from an unaligned mapping equals the same bytes in memory', () => {
  const seed = freshSeed();
  const rand = rng(seed);
  const [n, k, bits, gs] = [45, 448, 3, 64];
  const p = randomWeights(rand, n, k, bits, gs, 'bf16', 2);
  const path = join(dir, 'layer.safetensors');
  const u8 = (v: unknown) => v as Uint8Array;
  writeUnaligned(path, {
    'mlp.experts.weight': { dtype: 'U32', shape: [2, n, (k * bits) / 32], bytes: u8(p.ref.weights) },
    'mlp.experts.scales': { dtype: 'BF16', shape: [2, n, k / gs], bytes: u8(p.ref.scales) },
    'mlp.experts.biases': { dtype: 'BF16', shape: [2, n, k / gs], bytes: u8(p.ref.biases) },
  });
  const st = MappedSafetensors.open(path);
  const ref = st.quantized('mlp.experts', bits, gs);
  assert.is(ref.experts, 2);
  assert.is(ref.n, n);
  assert.is(ref.k, k);
  assert.is(ref.scaleDtype, 'bf16');
  assert.ok(st.tensor('mlp.experts.weight').bytes.offset % 4 !== 0, 'the weight data is deliberately unaligned');
  const header = SafetensorsFile.open(path);
  for (const name of ['mlp.experts.weight', 'mlp.experts.scales', 'mlp.experts.biases']) {
    const t = st.tensor(name);
    assert.equal(st.file.read(t.bytes.offset, t.byteLength), header.read(name), `${name} bytes through the map`);
  }
  header.close();
  // Expert 1 alone from the map vs from memory.
  const x = randomActivations(rand, 3, k);
  const wb = (k * bits) / 8;
  const sb = (k / gs) * 2;
  const mapped = { ...ref, experts: 1, weights: { file: st.file, offset: st.tensor('mlp.experts.weight').bytes.offset + n * wb }, scales: { file: st.file, offset: st.tensor('mlp.experts.scales').bytes.offset + n * sb }, biases: { file: st.file, offset: st.tensor('mlp.experts.biases').bytes.offset + n * sb } };
  const inMemory = { ...p.ref, experts: 1, weights: u8(p.ref.weights).subarray(n * wb), scales: u8(p.ref.scales).subarray(n * sb), biases: u8(p.ref.biases).subarray(n * sb) };
  const a = qmatmul(x, 3, mapped);
  const b = qmatmul(x, 3, inMemory);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.unreachable(`[seed ${seed}] mapped ${a[i]} vs memory ${b[i]} at ${i}`);
  st.close();
  assert.throws(() => qmatmul(x, 3, mapped), /is closed/);
});

test('mapping errors name the file and the range', () => {
  const path = join(dir, 'small.bin');
  writeFileSync(path, Buffer.from([1, 2, 3, 4, 5]));
  const f = mapFile(path);
  assert.is(f.size, 5);
  assert.equal([...f.read(1, 3)], [2, 3, 4]);
  assert.throws(() => f.read(3, 3), /read of 3 bytes at 3 is outside the file \(5 bytes\)/);
  const p = randomWeights(rng(1), 1, 32, 8, 32, 'f32');
  assert.throws(() => qmatmul(new Float32Array(32), 1, { ...p.ref, weights: { file: f, offset: 6 } }), /weights.offset: 6.* is not an integer in \[0, 5\]/);
  assert.throws(() => qmatmul(new Float32Array(32), 1, { ...p.ref, weights: { file: f, offset: 0 } }), /weights: 5 bytes available but 32 are needed/);
  f.close();
  assert.ok(f.closed);
  assert.throws(() => f.read(0, 1), /read after close/);
  assert.throws(() => mapFile(join(dir, 'missing.bin')), /missing\.bin: cannot open/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

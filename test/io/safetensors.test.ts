import { closeSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checkpoint, resolveModelPath } from '../../lib/io/checkpoint.js';
import { bf16BitsToF32, encodeFloats } from '../../lib/io/dtype.js';
import { CheckpointError, MlxkError } from '../../lib/io/errors.js';
import { parseHeader, SafetensorsFile } from '../../lib/io/safetensors.js';
import { planShards, shardFileName, ShardWriter, writeIndex, writeSafetensors } from '../../lib/io/safetensorsWriter.js';
import { mx, normal, rng, runSeed, tmpDir, toNested } from '../helpers.js';

function rawFile(path: string, header: unknown, data: Uint8Array, headerPad = ''): void {
  const json = Buffer.from(JSON.stringify(header) + headerPad, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, Buffer.from(data)]));
}

test('reads a file written by MLX (unpadded header, odd data offsets) with exact values', () => {
  const seed = runSeed();
  const next = rng(seed);
  const dir = tmpDir();
  const path = join(dir, 'mlx.safetensors');
  const a = normal(3 * 5, 1, next);
  const b = normal(7, 1, next);
  const m = mx();
  m.saveSafetensors(path, { a: m.array(toNested(a, 3, 5), m.float32), b: m.array(Array.from(b), m.bfloat16), c: m.array([1, 2, 3], m.int32) }, { format: 'mlx' });
  const f = SafetensorsFile.open(path);
  assert.equal(f.metadata, { format: 'mlx' });
  assert.equal(f.info('a').shape, [3, 5]);
  const av = new Float32Array(f.read('a').buffer.slice(0), 0, 15);
  assert.equal(Array.from(av), Array.from(a), `seed ${seed}`);
  const braw = f.read('b');
  const bv = Array.from({ length: 7 }, (_, i) => bf16BitsToF32(braw[2 * i]! | (braw[2 * i + 1]! << 8)));
  const mlxB = (m.array(Array.from(b), m.bfloat16).astype(m.float32).tolist() as number[]);
  assert.equal(bv, mlxB);
  assert.equal(Array.from(new Int32Array(f.read('c').buffer, 0, 3)), [1, 2, 3]);
  // Without metadata MLX writes "__metadata__": null, which must read as none.
  m.saveSafetensors(join(dir, 'nometa.safetensors'), { a: m.array([1, 2], m.float32) });
  const g = SafetensorsFile.open(join(dir, 'nometa.safetensors'));
  assert.equal(g.metadata, {});
  g.close();
  // MLX does not pad: at least one tensor starts at an offset that is not 4-aligned, or the header length is odd.
  const headerLen = Number(readFileSync(path).readBigUInt64LE(0));
  assert.ok([...f.tensors.values()].some((t) => t.start % 4 !== 0) || headerLen % 8 !== 0);
  f.close();
});

test('our writer round-trips through MLX: mx.load reads what ShardWriter wrote', () => {
  const dir = tmpDir();
  const path = join(dir, 'ours.safetensors');
  const vals = new Float32Array([1.5, -2.25, 3.0, 0.125, 7, 8]);
  writeSafetensors(path, [
    { name: 'w', dtype: 'BF16', shape: [2, 3], data: encodeFloats('BF16', vals) },
    { name: 'odd', dtype: 'U8', shape: [3], data: new Uint8Array([9, 8, 7]) },
    { name: 'f', dtype: 'F32', shape: [6], data: encodeFloats('F32', vals) },
  ]);
  const m = mx();
  const loaded = m.load(path) as unknown as Record<string, { astype: (d: unknown) => { tolist: () => unknown }; tolist: () => unknown }>;
  assert.equal(loaded.w!.astype(m.float32).tolist(), [[1.5, -2.25, 3], [0.125, 7, 8]]);
  assert.equal(loaded.odd!.tolist(), [9, 8, 7]);
  assert.equal(loaded.f!.tolist(), Array.from(vals));
  const f = SafetensorsFile.open(path);
  assert.equal(f.metadata, { format: 'mlx' });
  assert.is(f.info('w').start % 64, 0, 'tensors with 64-multiple sizes come first, 64-aligned');
  f.close();
});

test('header validation: each corruption is a CheckpointError naming the file and the problem', () => {
  const dir = tmpDir();
  const data = new Uint8Array(16);
  const cases: [string, () => void, RegExp][] = [
    ['tiny', () => writeFileSync(join(dir, 'tiny'), Buffer.alloc(5)), /5 bytes/],
    ['hugelen', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 40n); writeFileSync(join(dir, 'hugelen'), b); }, /header length/],
    ['pastend', () => { const b = Buffer.alloc(16); b.writeBigUInt64LE(100n); writeFileSync(join(dir, 'pastend'), b); }, /exceeds the file size/],
    ['notjson', () => { const j = Buffer.from('{nope'); const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(j.length)); writeFileSync(join(dir, 'notjson'), Buffer.concat([b, j])); }, /not valid UTF-8 JSON/],
    ['dtype', () => rawFile(join(dir, 'dtype'), { x: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, data), /unknown dtype "Q7"/],
    ['size', () => rawFile(join(dir, 'size'), { x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data), /needs 12 bytes/],
    ['bounds', () => rawFile(join(dir, 'bounds'), { x: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data), /truncated/],
    ['overlap', () => rawFile(join(dir, 'overlap'), { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, data), /overlap/],
    ['shape', () => rawFile(join(dir, 'shape'), { x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, data), /shape must be/],
    ['meta', () => rawFile(join(dir, 'meta'), { __metadata__: { a: 1 } }, data), /must be a string/],
  ];
  for (const [name, make, re] of cases) {
    make();
    try {
      SafetensorsFile.open(join(dir, name));
      assert.unreachable(`${name} was accepted`);
    } catch (e) {
      assert.instance(e, CheckpointError, name);
      assert.ok((e as Error).message.startsWith(join(dir, name)), `${name}: ${(e as Error).message}`);
      assert.match((e as Error).message, re, name);
    }
  }
});

test('fuzz: random and mutated headers are accepted consistently or rejected with CheckpointError', () => {
  const seed = runSeed();
  const next = rng(seed);
  const good = JSON.stringify({ __metadata__: { format: 'mlx' }, a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: 'BF16', shape: [3], data_offsets: [16, 22] } });
  const alphabet = '{}[]":,0123456789-abdefghijklmnoprstuxyzFBU_ \\';
  for (let i = 0; i < 3000; i++) {
    let text: string;
    const mode = i % 3;
    if (mode === 0) {
      text = Array.from({ length: 1 + Math.floor(next() * 80) }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    } else {
      const chars = good.split('');
      const edits = 1 + Math.floor(next() * 4);
      for (let k = 0; k < edits; k++) {
        const p = Math.floor(next() * chars.length);
        const r = next();
        if (r < 0.4) chars[p] = alphabet[Math.floor(next() * alphabet.length)]!;
        else if (r < 0.7) chars.splice(p, 1);
        else chars.splice(p, 0, String(Math.floor(next() * 10)));
      }
      text = chars.join('');
    }
    const bytes = new TextEncoder().encode(text);
    const fileSize = 8 + bytes.length + Math.floor(next() * 40);
    try {
      const { tensors } = parseHeader('fuzz', bytes, fileSize);
      const sorted = tensors.filter((t) => t.end > t.start).sort((a, b) => a.start - b.start);
      for (const t of tensors) assert.ok(t.start >= 8 + bytes.length && t.end <= fileSize, `seed ${seed}: accepted out-of-file tensor in ${text}`);
      for (let k = 1; k < sorted.length; k++) assert.ok(sorted[k]!.start >= sorted[k - 1]!.end, `seed ${seed}: accepted overlap in ${text}`);
    } catch (e) {
      if (!(e instanceof CheckpointError)) assert.unreachable(`seed ${seed}: ${text} threw ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});

test('the data section is covered exactly (issue 15): a header length one byte short, gaps, trailing bytes and repeated names are refused', () => {
  const dir = tmpDir();
  const path = join(dir, 'x.safetensors');
  const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const two = { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] } };
  rawFile(path, two, data, '   ');
  SafetensorsFile.open(path).close();
  // Lowered by one: the last padding byte becomes the first data byte, shifting every tensor.
  const bytes = readFileSync(path);
  bytes.writeBigUInt64LE(bytes.readBigUInt64LE(0) - 1n, 0);
  writeFileSync(path, bytes);
  assert.throws(() => SafetensorsFile.open(path), (e: Error) => e instanceof CheckpointError && /1 bytes after the last tensor belong to no tensor/.test(e.message));
  rawFile(path, two, Uint8Array.from([...data, 0]));
  assert.throws(() => SafetensorsFile.open(path), /1 bytes after the last tensor belong to no tensor/);
  rawFile(path, { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [3], data_offsets: [5, 8] } }, data);
  assert.throws(() => SafetensorsFile.open(path), /1 bytes of the data section between "a" and "b" belong to no tensor/);
  rawFile(path, { b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] } }, data);
  assert.throws(() => SafetensorsFile.open(path), /4 bytes of the data section before the first tensor/);
  rawFile(path, { a: { dtype: 'U8', shape: [6], data_offsets: [0, 6] }, b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] } }, data);
  assert.throws(() => SafetensorsFile.open(path), /overlap/);
  const dup = Buffer.from('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"x":{"k":"a"},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}');
  assert.throws(() => parseHeader(path, dup, 8 + dup.length + 8), /header names tensor "a" twice/);
  // A repeated key inside an entry, or a name that only looks the same escaped, is no repeat.
  const escaped = Buffer.from('{"a":{"dtype":"U8","shape":[4],"shape":[4],"data_offsets":[0,4]},"\\u0061b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}');
  assert.is(parseHeader(path, escaped, 8 + escaped.length + 8).tensors.length, 2);
  // No tensors and no data is a valid (empty) file.
  rawFile(path, {}, new Uint8Array(0));
  assert.is(SafetensorsFile.open(path).tensors.size, 0);
});

test('sharded checkpoints: index.json is followed; a missing shard and duplicate tensors are named', () => {
  const dir = tmpDir();
  const t = (name: string, v: number) => ({ name, dtype: 'F32' as const, shape: [2], data: encodeFloats('F32', new Float32Array([v, v])) });
  writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [t('a', 1), t('b', 2)]);
  writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [t('c', 3)]);
  writeFileSync(join(dir, 'config.json'), '{"model_type":"llama"}');
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } }));
  const ck = Checkpoint.open(dir);
  assert.equal([...ck.tensors.keys()].sort(), ['a', 'b', 'c']);
  assert.equal(Array.from(new Float32Array(ck.read('c').buffer, 0, 2)), [3, 3]);
  ck.close();
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', z: 'model-00009-of-00009.safetensors' } }));
  assert.throws(() => Checkpoint.open(dir), (e: Error) => e instanceof CheckpointError && /model-00009-of-00009\.safetensors: missing shard/.test(e.message));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', q: 'model-00002-of-00002.safetensors' } }));
  assert.throws(() => Checkpoint.open(dir), /has no tensor "q" although the index maps it here/);
  const dup = tmpDir();
  writeSafetensors(join(dup, 'model-1.safetensors'), [t('a', 1)]);
  writeSafetensors(join(dup, 'model-2.safetensors'), [t('a', 2)]);
  writeFileSync(join(dup, 'config.json'), '{}');
  assert.throws(() => Checkpoint.open(dup), /tensor "a" is also in/);
});

test('shard planning follows mlx-lm: new shard when the cap would be exceeded, groups never split, names 0000i-of-0000N', () => {
  const g = (name: string, n: number) => [{ name, dtype: 'U8' as const, shape: [n] }];
  const shards = planShards([g('a', 60), g('b', 50), [...g('c1', 30), ...g('c2', 30)], g('d', 200), g('e', 1)], 100);
  assert.equal(shards.map((s) => s.tensors.map((t) => t.name)), [['a'], ['b'], ['c1', 'c2'], ['d'], ['e']]);
  assert.equal(shards.map((s) => s.file), ['model-00001-of-00005.safetensors', 'model-00002-of-00005.safetensors', 'model-00003-of-00005.safetensors', 'model-00004-of-00005.safetensors', 'model-00005-of-00005.safetensors']);
  assert.is(shardFileName(0, 1), 'model.safetensors');
  const dir = tmpDir();
  writeIndex(dir, shards, 12345);
  const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  assert.equal(idx.metadata, { total_size: 371, total_parameters: 12345 });
  assert.equal(Object.keys(idx.weight_map), ['a', 'b', 'c1', 'c2', 'd', 'e']);
});

test('writer is atomic: an unfinished or failed shard leaves no file under its final name', () => {
  const dir = tmpDir();
  const path = join(dir, 'model.safetensors');
  const w = new ShardWriter(path, [{ name: 'x', dtype: 'F32', shape: [4] }]);
  w.write('x', 0, new Uint8Array(8));
  assert.throws(() => w.finish(), /got 8 of 16 bytes/);
  assert.not.ok(existsSync(path));
  assert.not.ok(existsSync(`${path}.partial`));
  // A full disk: the partial file is /dev/full, every write fails with ENOSPC.
  symlinkSync('/dev/full', `${path}.partial`);
  assert.throws(() => new ShardWriter(path, [{ name: 'x', dtype: 'F32', shape: [4] }]), (e: Error) => e instanceof CheckpointError && /disk full/.test(e.message));
  assert.not.ok(existsSync(path));
  assert.not.ok(existsSync(`${path}.partial`), 'the partial file is removed');
});

test('truncated file: tensor reads beyond the end are refused at open', () => {
  const dir = tmpDir();
  const path = join(dir, 'model.safetensors');
  writeSafetensors(path, [{ name: 'x', dtype: 'F32', shape: [64], data: new Uint8Array(256) }]);
  const full = readFileSync(path);
  writeFileSync(path, full.subarray(0, full.length - 10));
  assert.throws(() => SafetensorsFile.open(path), /truncated/);
  const fd = openSync(path, 'a');
  writeSync(fd, Buffer.alloc(10));
  closeSync(fd);
  SafetensorsFile.open(path).close();
});

test('Hugging Face cache ids resolve offline through refs/main; unknown ids say how to fetch', () => {
  const cache = tmpDir();
  const repo = join(cache, 'models--org--tiny');
  const snap = join(repo, 'snapshots', 'abc123');
  for (const d of [join(repo, 'refs'), snap]) mkdirSync(d, { recursive: true });
  writeFileSync(join(repo, 'refs', 'main'), 'abc123\n');
  const prev = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
  try {
    assert.is(resolveModelPath('org/tiny'), snap);
    assert.is(resolveModelPath('org/tiny@abc123'), snap);
    assert.throws(() => resolveModelPath('org/absent'), (e: Error) => e instanceof MlxkError && /never downloads/.test((e as MlxkError).hint ?? ''));
    assert.throws(() => resolveModelPath('./nope'), /\.\/nope: no such directory/);
    assert.throws(() => resolveModelPath('/abs/nope'), /\/abs\/nope: no such directory/);
  } finally {
    if (prev === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = prev;
  }
});

test.run();

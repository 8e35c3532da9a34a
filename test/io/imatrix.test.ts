import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxkError } from '../../lib/io/errors.js';
import type { Imatrix } from '../../lib/io/imatrix.js';
import { readImatrixDat, writeImatrixDat } from '../../lib/io/imatrixDat.js';
import { readImatrix, writeImatrix } from '../../lib/io/imatrixFile.js';
import { readImatrixGguf, writeImatrixGguf } from '../../lib/io/imatrixGguf.js';
import type { ColumnImportance } from '../../lib/quant/stats.js';
import { tmpDir } from '../helpers.js';

const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
const f32s = (v: number[]) => Buffer.from(Float32Array.from(v).buffer);

function imp(cols: number, slices: number, sums: number[], tokens: number[]): ColumnImportance {
  return { cols, slices, sumSq: Float32Array.from(sums), tokens: Float64Array.from(tokens) };
}

/** Two entries like llama-imatrix's for a MoE layer: a dense weight and 3 stacked experts (one never routed to). */
function sample(): Omit<Imatrix, 'format'> {
  return {
    entries: new Map([
      ['blk.0.attn_q_a.weight', imp(2, 1, [3.5, 10], [7])],
      ['blk.1.ffn_down_exps.weight', imp(2, 3, [1, 2, 0, 0, 9, 12], [2, 0, 3])],
    ]),
    datasets: ['calib.txt'],
    chunkCount: 1,
    chunkSize: 4,
    tokensPerCount: 1,
  };
}

test('GGUF imatrix: the bytes are the layout of llama.cpp save_imatrix, written out by hand', () => {
  const f = join(tmpDir(), 'x.gguf');
  writeImatrixGguf(f, { ...sample(), entries: new Map([['blk.0.attn_q_a.weight', imp(2, 1, [3.5, 10], [7])]]) });
  const kv = Buffer.concat([
    str('general.type'), u32(8), str('imatrix'),
    str('imatrix.datasets'), u32(9), u32(8), u64(1), str('calib.txt'),
    str('imatrix.chunk_count'), u32(4), u32(1),
    str('imatrix.chunk_size'), u32(4), u32(4),
  ]);
  const infos = Buffer.concat([
    // [2, 1] and [1, 1] are stored 1-D, as ggml_n_dims counts them
    str('blk.0.attn_q_a.weight.in_sum2'), u32(1), u64(2), u32(0), u64(0),
    str('blk.0.attn_q_a.weight.counts'), u32(1), u64(1), u32(0), u64(32),
  ]);
  const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(2), u64(4), kv, infos]);
  const padded = Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / 32) * 32 - head.length)]);
  const data = Buffer.concat([f32s([3.5, 10]), Buffer.alloc(24), f32s([7]), Buffer.alloc(28)]);
  assert.equal(readFileSync(f), Buffer.concat([padded, data]));
});

test('GGUF imatrix round trip keeps every value, count and field', () => {
  const f = join(tmpDir(), 'x.gguf');
  writeImatrix(f, sample());
  const m = readImatrix(f);
  assert.is(m.format, 'gguf');
  assert.equal(m.datasets, ['calib.txt']);
  assert.is(m.chunkCount, 1);
  assert.is(m.chunkSize, 4);
  assert.equal([...m.entries.keys()], ['blk.0.attn_q_a.weight', 'blk.1.ffn_down_exps.weight']);
  for (const [k, e] of sample().entries) {
    const r = m.entries.get(k)!;
    assert.equal([r.cols, r.slices, [...r.sumSq], [...r.tokens]], [e.cols, e.slices, [...e.sumSq], [...e.tokens]]);
  }
  // per-head weights with one count (MLA's attn_k_b) are stored flat, as llama-imatrix stores them
  writeImatrixGguf(f, { ...sample(), entries: new Map([['blk.0.attn_k_b.weight', imp(2, 2, [1, 2, 3, 4], [5, 5])]]) });
  const kb = readImatrixGguf(f).entries.get('blk.0.attn_k_b.weight')!;
  assert.equal([kb.cols, kb.slices, [...kb.sumSq], [...kb.tokens]], [4, 1, [1, 2, 3, 4], [5]]);
});

test('legacy .dat: Σx²/count · ncall per expert in float32, 1 · ncall for an expert with no tokens, hand-computed', () => {
  const f = join(tmpDir(), 'x.dat');
  writeImatrixDat(f, sample());
  // chunk size 4: dense ncall = ⌈7/4⌉ = 2; experts ⌈max(2,0,3)/4⌉ = 1
  const expect = Buffer.concat([
    i32(2),
    i32(21), Buffer.from('blk.0.attn_q_a.weight'), i32(2), i32(2), f32s([(3.5 / 7) * 2, (10 / 7) * 2]),
    i32(26), Buffer.from('blk.1.ffn_down_exps.weight'), i32(1), i32(6), f32s([1 / 2, 2 / 2, 1, 1, 9 / 3, 12 / 3]),
    i32(1), i32(9), Buffer.from('calib.txt'),
  ]);
  assert.equal(readFileSync(f), expect);
  const m = readImatrixDat(f);
  assert.is(m.tokensPerCount, 0);
  const d = m.entries.get('blk.0.attn_q_a.weight')!;
  assert.equal([d.cols, d.slices, [...d.tokens]], [2, 1, [2]]);
  assert.equal([...d.sumSq], [...f32s([(3.5 / 7) * 2, (10 / 7) * 2]).reduce((a, _, i, b) => (i % 4 ? a : [...a, b.readFloatLE(i)]), [] as number[])]);
  // the mean E[x²] survives: sumSq / tokens
  assert.ok(Math.abs(d.sumSq[1]! / d.tokens[0]! - 10 / 7) < 1e-6);
  // a .dat read back writes the same bytes (its counts are chunks already)
  const g = join(tmpDir(), 'y.dat');
  writeImatrix(g, m);
  assert.equal(readFileSync(g), expect);
});

test('GGUF → .dat needs token counts; .dat → GGUF is refused (the format lost the token counts)', () => {
  const d = join(tmpDir(), 'x.dat');
  writeImatrixDat(d, sample());
  assert.throws(() => writeImatrixGguf(join(tmpDir(), 'y.gguf'), readImatrixDat(d)), /counts chunks/);
  assert.throws(() => writeImatrixDat(join(tmpDir(), 'z.dat'), { ...sample(), chunkSize: 0 }), /tokens per chunk/);
});

function expectError(bytes: Buffer, pattern: RegExp): void {
  const f = join(tmpDir(), 'bad.imatrix');
  writeFileSync(f, bytes);
  try {
    readImatrix(f);
  } catch (e) {
    assert.instance(e, MlxkError);
    const msg = (e as Error).message;
    assert.not.match(msg, /\n/);
    assert.ok(msg.startsWith(f), msg);
    assert.match(msg, pattern);
    return;
  }
  assert.unreachable(`no error for ${pattern}`);
}

test('bad GGUF imatrix files: one-line errors naming the field and value', () => {
  const f = join(tmpDir(), 'ok.gguf');
  writeImatrixGguf(f, sample());
  const good = readFileSync(f);
  expectError(good.subarray(0, good.length - 30), /runs past the end/);
  expectError(good.subarray(0, 40), /needs \d+ bytes|do not fit/);
  const v = Buffer.from(good);
  v.writeUInt32LE(7, 4);
  expectError(v, /version: 7/);
  // a value that is not a sum of squares
  const nan = Buffer.from(good);
  const at = good.indexOf(f32s([3.5, 10]));
  nan.writeFloatLE(-1, at);
  expectError(nan, /"blk.0.attn_q_a.weight" value \[0\]: -1/);
  // general.type of a model GGUF
  const model = Buffer.from(good);
  model.write('imatrxx', good.indexOf('imatrix', 30));
  expectError(model, /general.type: "imatrxx"/);
  // a sums tensor without its counts
  const g = join(tmpDir(), 'half.gguf');
  writeImatrixGguf(g, sample());
  const half = readFileSync(g);
  half.write('.cXunts', half.indexOf('.counts'));
  expectError(half, /does not end in .in_sum2 or .counts/);
  expectError(Buffer.alloc(0), /entry count: needs 4 bytes/);
});

test('bad .dat files: one-line errors naming the entry and value', () => {
  const f = join(tmpDir(), 'ok.dat');
  writeImatrixDat(f, sample());
  const good = readFileSync(f);
  expectError(Buffer.concat([good, Buffer.from([1])]), /dataset name length: 9 \(expected the 10 bytes/);
  expectError(good.subarray(0, 90), /"blk.1.ffn_down_exps.weight" nval: 6/);
  expectError(good.subarray(0, 50), /entry 1 name length: 26/);
  const neg = Buffer.from(good);
  neg.writeInt32LE(-3, 0);
  expectError(neg, /entry count: -3/);
  const zero = Buffer.from(good);
  zero.writeInt32LE(0, 4 + 4 + 21);
  expectError(zero, /"blk.0.attn_q_a.weight" ncall: 0/);
  const inf = Buffer.from(good);
  inf.writeFloatLE(Infinity, 4 + 4 + 21 + 8);
  expectError(inf, /value \[0\]: Infinity/);
  const long = Buffer.from(good);
  long.writeInt32LE(1000, 4);
  expectError(long, /entry 0 name length: 1000/);
});

test.run();

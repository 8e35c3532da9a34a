import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import type { Imatrix } from '../../lib/io/imatrix.js';
import { readImatrix, writeImatrix } from '../../lib/io/imatrixFile.js';
import { tensorTable } from '../../lib/models/registry.js';
import { imatrixEntries, importanceFromImatrix } from '../../lib/quant/imatrixModules.js';
import type { ColumnImportance } from '../../lib/quant/stats.js';
import { MLXK, REPO, rng, tmpDir, TINY_KIMI } from '../helpers.js';

const config = Checkpoint.open(TINY_KIMI).config;
const table = tensorTable(config);

/** Random statistics for every weight module of tiny-kimi, shaped as its table says. */
function fullImportance(): Map<string, ColumnImportance> {
  const next = rng(7);
  const out = new Map<string, ColumnImportance>();
  for (const e of table.entries) {
    if (!['linear', 'switch_linear', 'multi_linear'].includes(e.kind)) continue;
    const slices = e.shape.length === 3 ? e.shape[0]! : 1;
    const cols = e.shape.at(-1)!;
    const tokens = Float64Array.from({ length: slices }, () => Math.floor(next() * 50));
    out.set(e.module, { cols, slices, sumSq: Float32Array.from({ length: slices * cols }, () => next() * 10), tokens });
  }
  return out;
}

const meta = { datasets: ['calib.txt'], chunkCount: 2, chunkSize: 64, tokensPerCount: 1 };

test('every tiny-kimi weight module → GGUF names → GGUF imatrix → back to the same module statistics', () => {
  const imp = fullImportance();
  const entries = imatrixEntries(imp);
  // names as llama.cpp's deepseek2 GGUF spells them
  assert.ok(entries.has('blk.1.ffn_down_exps.weight'));
  assert.ok(entries.has('blk.0.attn_kv_a_mqa.weight'));
  assert.ok(entries.has('blk.2.ffn_gate_shexp.weight'));
  assert.ok(entries.has('blk.3.attn_k_b.weight') && entries.has('blk.3.attn_v_b.weight'));
  const f = join(tmpDir(), 'm.gguf');
  writeImatrix(f, { ...meta, entries });
  const { importance, skipped } = importanceFromImatrix(readImatrix(f), table, f, 'tiny-kimi');
  assert.equal(skipped, []);
  assert.equal([...importance.keys()].sort(), [...imp.keys()].sort());
  for (const [k, e] of imp) {
    const r = importance.get(k)!;
    assert.equal([r.cols, r.slices, [...r.tokens]], [e.cols, e.slices, [...e.tokens]], k);
    assert.equal([...r.sumSq], [...e.sumSq], k);
  }
});

test('a legacy .dat (flat per entry) is split by the table: per-expert means survive', () => {
  const imp = fullImportance();
  const f = join(tmpDir(), 'm.dat');
  writeImatrix(f, { ...meta, entries: imatrixEntries(imp) });
  const { importance } = importanceFromImatrix(readImatrix(f), table, f, 'tiny-kimi');
  const mod = 'model.layers.1.mlp.switch_mlp.down_proj';
  const src = imp.get(mod)!;
  const got = importance.get(mod)!;
  assert.is(got.slices, 16);
  for (let s = 0; s < 16; s++) {
    for (let c = 0; c < got.cols; c += 37) {
      const i = s * got.cols + c;
      // llama.cpp writes 1 for an expert no token reached
      const want = src.tokens[s] === 0 ? 1 : src.sumSq[i]! / src.tokens[s]!;
      assert.ok(Math.abs(got.sumSq[i]! / got.tokens[s]! - want) <= 1e-6 * want, `${mod} [${s}, ${c}]`);
    }
  }
});

test("llama.cpp's attn_kv_b entry (a source weight MLX splits) is skipped; another model's imatrix is refused in one line", () => {
  const imp = fullImportance();
  const entries = imatrixEntries(imp);
  entries.set('blk.0.attn_kv_b.weight', { cols: 64, slices: 1, sumSq: new Float32Array(64), tokens: Float64Array.of(3) });
  const m: Imatrix = { format: 'gguf', ...meta, entries };
  assert.equal(importanceFromImatrix(m, table, 'f', 'tiny-kimi').skipped, ['blk.0.attn_kv_b.weight']);
  // 8 experts where tiny-kimi has 16
  const other = tensorTable({ ...config, n_routed_experts: 8 });
  const wrongShape = () => importanceFromImatrix(m, other, 'f.gguf', 'OTHER');
  assert.throws(wrongShape, (e: Error) => e instanceof MlxkError && /f.gguf: imatrix entry "blk.1.ffn_(gate|up|down)_exps.weight" has 16 × 256 values, but model.layers.1.mlp.switch_mlp.(gate|up|down)_proj of OTHER needs 8 × 256/.test(e.message) && !e.message.includes('\n'));
  // a deeper model's layers
  entries.set('blk.9.ffn_down_exps.weight', entries.get('blk.1.ffn_down_exps.weight')!);
  assert.throws(() => importanceFromImatrix(m, table, 'f.gguf', 'tiny-kimi'), /"blk.9.ffn_down_exps.weight" names no weight of tiny-kimi \(a 4-layer kimi_k2\): this imatrix was made for another model/);
});

function mlxk(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MLXK, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('quantize --imatrix: reads either format, says what it covers; another model\'s imatrix is a one-line error that says what to do', () => {
  const dir = tmpDir();
  const imp = fullImportance();
  const good = join(dir, 'good.gguf');
  writeImatrix(good, { ...meta, entries: imatrixEntries(imp) });
  const r = mlxk('quantize', 'models/tiny-kimi', join(dir, 'out'), '--bits', '4', '--imatrix', good);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`imatrix ${good} \\(gguf, from calib.txt\\): ${imp.size} of ${imp.size} weight modules`));
  const bad = join(dir, 'other.dat');
  const entries = imatrixEntries(imp);
  entries.set('blk.1.ffn_down_exps.weight', { cols: 512, slices: 16, sumSq: new Float32Array(512 * 16), tokens: new Float64Array(16).fill(1) });
  writeImatrix(bad, { ...meta, entries });
  const e = mlxk('quantize', 'models/tiny-kimi', join(dir, 'out2'), '--bits', '4', '--imatrix', bad);
  assert.is(e.code, 1);
  const lines = e.stderr.trim().split('\n');
  assert.match(lines[0]!, /^mlxk: .*other.dat: imatrix entry "blk.1.ffn_down_exps.weight" has 1 × 8192 values, but .* needs 16 × 256/);
  assert.match(e.stderr, /mlxk imatrix MODEL --calib FILE/);
  const missing = mlxk('quantize', 'models/tiny-kimi', join(dir, 'out3'), '--bits', '4', '--imatrix', join(dir, 'nope.gguf'));
  assert.match(missing.stderr, /nope.gguf: no such imatrix file/);
});

test.run();

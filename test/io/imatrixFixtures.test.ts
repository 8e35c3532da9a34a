// The imatrix files llama.cpp's own llama-imatrix wrote for the bundled model
// (test/fixtures/imatrix/README.md), against a dump of the same files by gguf-py /
// numpy (tools/peers/dump_imatrix.py): what mlxk reads is what llama.cpp stored.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readImatrix, writeImatrix } from '../../lib/io/imatrixFile.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { tensorTable } from '../../lib/models/registry.js';
import { importanceFromImatrix } from '../../lib/quant/imatrixModules.js';
import { REPO, tmpDir, TINY_KIMI } from '../helpers.js';

const DIR = 'test/fixtures/imatrix';
const GGUF = `${DIR}/tiny-kimi.imatrix.gguf`;
const DAT = `${DIR}/tiny-kimi.imatrix.dat`;
interface Dumped { ne?: number[]; n: number; counts: number[]; sum: number; sha256: string; head: number[] }
const dump: Record<string, { metadata: Record<string, unknown>; entries: Record<string, Dumped> }> = JSON.parse(readFileSync(join(REPO, DIR, 'tiny-kimi.imatrix.json'), 'utf8'));

function sha(a: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

for (const file of [GGUF, DAT]) {
  test(`${file}: every entry's values and counts are the ones gguf-py / numpy read`, () => {
    const m = readImatrix(join(REPO, file));
    const want = dump[file]!;
    assert.equal([...m.entries.keys()].sort(), Object.keys(want.entries).sort());
    for (const [name, e] of m.entries) {
      const d = want.entries[name]!;
      assert.is(e.sumSq.length, d.n, name);
      assert.is(sha(e.sumSq), d.sha256, name);
      assert.equal([...e.sumSq.subarray(0, 4)], d.head, name);
      assert.equal([...new Set(e.tokens)], [...new Set(d.counts)], name);
      if (d.ne) assert.equal([e.cols, e.slices], [d.ne[0], d.ne[1] ?? 1], name);
    }
    if (m.format === 'gguf') {
      assert.equal(m.datasets, want.metadata['imatrix.datasets']);
      assert.equal([m.chunkCount, m.chunkSize], [want.metadata['imatrix.chunk_count'], want.metadata['imatrix.chunk_size']]);
    } else {
      assert.equal([m.datasets, m.chunkCount], [[want.metadata.dataset], want.metadata.chunk_count]);
    }
  });
}

test("mlxk writes llama.cpp's files byte for byte: the GGUF read back, and the .dat from the GGUF's token counts", () => {
  const g = readImatrix(join(REPO, GGUF));
  const dir = tmpDir();
  writeImatrix(join(dir, 'a.gguf'), g);
  assert.ok(readFileSync(join(dir, 'a.gguf')).equals(readFileSync(join(REPO, GGUF))));
  // llama-imatrix --output-format dat over the same text: Σx²/count · ⌈count/512⌉ in float32
  writeImatrix(join(dir, 'a.dat'), g, 'dat');
  assert.ok(readFileSync(join(dir, 'a.dat')).equals(readFileSync(join(REPO, DAT))));
});

test("llama.cpp's imatrix maps onto tiny-kimi's MLX modules: routed experts per expert, MLA per head", () => {
  const table = tensorTable(Checkpoint.open(TINY_KIMI).config);
  for (const file of [GGUF, DAT]) {
    const { importance, skipped } = importanceFromImatrix(readImatrix(join(REPO, file)), table, file, 'tiny-kimi');
    // the routers of the 3 MoE layers are recorded by llama.cpp and never quantized
    assert.equal(skipped, ['blk.1.ffn_gate_inp.weight', 'blk.2.ffn_gate_inp.weight', 'blk.3.ffn_gate_inp.weight']);
    assert.is(importance.size, 45, file);
    const down = importance.get('model.layers.2.mlp.switch_mlp.down_proj')!;
    assert.equal([down.slices, down.cols], [16, 256]);
    const kb = importance.get('model.layers.0.self_attn.embed_q')!;
    assert.equal([kb.slices, kb.cols], [4, 32]);
    const vb = importance.get('model.layers.0.self_attn.unembed_out')!;
    assert.equal([vb.slices, vb.cols], [4, 64]);
  }
  const g = importanceFromImatrix(readImatrix(join(REPO, GGUF)), table, GGUF, 'tiny-kimi').importance;
  // every routed token reaches num_experts_per_tok = 4 experts: the expert counts add up to 4 × 8192
  const down = g.get('model.layers.1.mlp.switch_mlp.down_proj')!;
  assert.is(down.tokens.reduce((a, b) => a + b, 0), 4 * 8192);
  assert.is(g.get('model.layers.1.mlp.shared_experts.down_proj')!.tokens[0], 8192);
});

test.run();

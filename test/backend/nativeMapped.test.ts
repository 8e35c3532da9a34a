// Loading a quantized checkpoint on the native backend copies no weights: every matrix
// weight points into the memory-mapped file, and after loading and running the model the
// process's anonymous memory has grown by a small fraction of the checkpoint (the pages
// read are file-backed page cache, shared with other processes). Measured in a child
// process so this file's own allocations (the checkpoint it writes) do not count.
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { f32ToBf16Bits } from '../../lib/io/dtype.js';
import { writeSafetensors } from '../../lib/io/safetensorsWriter.js';
import { synthDefaultConfig } from '../../lib/models/synthDefaults.js';
import { tensorTable } from '../../lib/models/registry.js';
import { QUANTIZABLE_KINDS } from '../../lib/models/table.js';
import { tmpDir } from '../helpers.js';

const BITS = 4;
const GROUP = 32;

/** A Kimi-K2-layout MLX checkpoint at 4 bits with random codes, about 150 MB. */
function writeCheckpoint(dir: string): number {
  const cfg = { ...synthDefaultConfig('kimi_k2')!, hidden_size: 512, moe_intermediate_size: 512, intermediate_size: 1024, n_routed_experts: 128, num_experts_per_tok: 4, num_hidden_layers: 4 };
  const bf16 = (n: number, value: () => number) => {
    const a = new Uint16Array(n);
    for (let i = 0; i < n; i++) a[i] = f32ToBf16Bits(value());
    return new Uint8Array(a.buffer);
  };
  const tensors: Parameters<typeof writeSafetensors>[1] = [];
  let bytes = 0;
  for (const e of tensorTable(cfg).entries) {
    const rows = e.shape.slice(0, -1);
    const cols = e.shape[e.shape.length - 1]!;
    if (QUANTIZABLE_KINDS.has(e.kind)) {
      const groups = rows.reduce((a, b) => a * b, 1) * (cols / GROUP);
      tensors.push({ name: e.name, dtype: 'U32', shape: [...rows, (cols * BITS) / 32], data: randomFillSync(new Uint8Array((groups * GROUP * BITS) / 8)) });
      tensors.push({ name: `${e.module}.scales`, dtype: 'BF16', shape: [...rows, cols / GROUP], data: bf16(groups, () => 0.004) });
      tensors.push({ name: `${e.module}.biases`, dtype: 'BF16', shape: [...rows, cols / GROUP], data: bf16(groups, () => -0.03) });
    } else if (e.keepDtype === 'F32') {
      tensors.push({ name: e.name, dtype: 'F32', shape: e.shape, data: new Uint8Array(4 * cols) });
    } else {
      tensors.push({ name: e.name, dtype: 'BF16', shape: e.shape, data: bf16(e.shape.reduce((a, b) => a * b, 1), () => 1) });
    }
  }
  for (const t of tensors) bytes += t.data.length;
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, quantization: { group_size: GROUP, bits: BITS, mode: 'affine' } }));
  return bytes;
}

const child = `
import { readFileSync } from 'node:fs';
const dist = process.argv[1];
const { NativeOps, isMappedWeight } = await import(dist + '/lib/backend/native/ops.js');
const { Checkpoint } = await import(dist + '/lib/io/checkpoint.js');
const { tensorTable } = await import(dist + '/lib/models/registry.js');
const { loadWeights } = await import(dist + '/lib/models/loadWeights.js');
const { loadModel } = await import(dist + '/lib/models/load.js');
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const file = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const ops = new NativeOps();
const dir = process.argv[2];
const before = anon();
const ckpt = Checkpoint.open(dir);
const weights = await loadWeights(ckpt, tensorTable(ckpt.config), ops);
const matrices = weights.all().filter((w) => w.kind === 'matrix');
const mapped = matrices.filter((w) => isMappedWeight(w)).length;
const { model } = await loadModel(dir, ops);
const cache = model.newCache();
ops.read(model.forward([1, 2, 3, 4, 5, 6, 7, 8], cache));
for (let i = 0; i < 4; i++) ops.read(model.forward([9 + i], cache));
process.stdout.write(JSON.stringify({ matrices: matrices.length, mapped, anonGrowth: anon() - before, fileRss: file() }));
`;

test('a quantized checkpoint loads without copying: weights point into the map, anonymous memory stays far below the model size', () => {
  const dir = tmpDir();
  const modelBytes = writeCheckpoint(dir);
  const dist = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
  const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', child, dist, dir], { encoding: 'utf8' })) as { matrices: number; mapped: number; anonGrowth: number; fileRss: number };
  console.log(`  ${(modelBytes / 1e6).toFixed(0)} MB checkpoint: ${r.mapped}/${r.matrices} matrix weights mapped; anonymous memory +${(r.anonGrowth / 1e6).toFixed(1)} MB after loading it twice and running 12 tokens; file-backed RSS ${(r.fileRss / 1e6).toFixed(0)} MB`);
  assert.ok(r.matrices > 0);
  assert.is(r.mapped, r.matrices, 'every matrix weight is used in place');
  assert.ok(r.anonGrowth < 0.15 * modelBytes, `anonymous memory grew by ${r.anonGrowth} bytes for a ${modelBytes}-byte model`);
});

test.run();

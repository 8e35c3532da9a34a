// The prompt cache's own memory (lib/backend/native/keptMemory.ts over native/src/anon_map.cc):
// copies hold the values they were made from, release() unmaps at once (the addon's count and
// resident memory both go back), a released tensor can no longer be read, and a KV cache kept
// this way can be forked and released while the fork runs on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keptMappings } from '../../lib/backend/native/keptMemory.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import { BLOCK, KvCache } from '../../lib/engine/kvCache.js';

const ops = new NativeOps();
const MiB = 2 ** 20;
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));

test('a kept copy holds the values, whole pages are counted, release unmaps and detaches', () => {
  const before = keptMappings();
  const a = ops.constant(values(6000, 1), [1000, 6]);
  const b = ops.constant(values(10, 2), [5, 2]);
  const kept = ops.keep([ops.slice(a, 0, 3, 900), b]);
  assert.is(kept.bytes, Math.ceil(((897 * 6 + 10) * 4) / 4096) * 4096);
  assert.equal(keptMappings(), { mappings: before.mappings + 1, bytes: before.bytes + kept.bytes });
  assert.equal(ops.read(kept.tensors[0]!), values(6000, 1).slice(18, 5400));
  assert.equal(ops.read(kept.tensors[1]!), values(10, 2));
  // A write into a kept tensor lands in a copy; the kept values stay as they were.
  const written = ops.writeRows(kept.tensors[1]!, ops.constant([9, 9], [1, 2]), 0);
  assert.equal([...ops.read(written).slice(0, 3)], [9, 9, values(10, 2)[2]!]);
  assert.equal(ops.read(kept.tensors[1]!), values(10, 2));

  kept.release();
  kept.release();
  assert.equal(keptMappings(), before);
  // Reading after release is impossible: the buffer is detached, not pointing at unmapped pages.
  const data = (kept.tensors[0] as unknown as { storage: { data: Float32Array } }).storage.data;
  assert.is(data.length, 0);
  assert.is(data.buffer.byteLength, 0);
  assert.throws(() => ops.read(kept.tensors[0]!), /detached ArrayBuffer/);
});

test('1,000 entries made and released: no mapping left, resident memory back where it was', () => {
  const before = keptMappings();
  const source = ops.constant(values(MiB / 4, 3), [256, MiB / 1024]);
  const rss0 = process.memoryUsage().rss;
  let peak = 0;
  const live: ReturnType<typeof ops.keep>[] = [];
  for (let i = 0; i < 1000; i++) {
    live.push(ops.keep([source]));
    // Up to 16 alive at once (16 MiB), the oldest released first, as eviction does.
    if (live.length > 16) live.shift()!.release();
    peak = Math.max(peak, process.memoryUsage().rss - rss0);
  }
  assert.ok(peak >= 14 * MiB, `16 live 1 MiB entries raised RSS by only ${(peak / MiB).toFixed(1)} MiB`);
  for (const k of live) k.release();
  assert.equal(keptMappings(), before);
  const grew = process.memoryUsage().rss - rss0;
  assert.ok(grew < 4 * MiB, `RSS ${(grew / MiB).toFixed(1)} MiB above the start after releasing all`);
});

test('a compacted cache lives in kept memory; a fork of a prefix outlives its release', () => {
  const before = keptMappings();
  const cache = new KvCache(ops, 'kv', 2, 8);
  const rows = (layer: number, n: number, at: number) => [ops.constant(values(n * 4, layer * 100 + at), [n, 1, 4]), ops.constant(values(n * 4, layer * 100 + at + 50), [n, 1, 4])];
  for (let layer = 0; layer < 2; layer++) cache.update(layer, rows(layer, 300, 0));
  cache.compact();
  assert.is(cache.heldBytes, Math.ceil((300 * 2 * 8 * 4) / 4096) * 4096);
  assert.is(keptMappings().bytes - before.bytes, cache.heldBytes);

  const fork = cache.copy(120);
  cache.release();
  assert.equal(keptMappings(), before);
  assert.is(cache.length, 0);
  assert.is(fork.length, 120);
  // The fork grows in place from its own buffers (room to BLOCK), reading its prefix intact.
  const out = fork.update(0, rows(0, 1, 300));
  assert.equal(ops.shape(out[0]!), [121, 1, 4]);
  assert.equal(ops.read(out[0]!).slice(0, 120 * 4), values(300 * 4, 0).slice(0, 120 * 4));
  assert.equal(ops.read(out[1]!).slice(120 * 4), values(4, 300 + 50));
  assert.ok(BLOCK > 121);
});

test.run();

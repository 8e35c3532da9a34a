// Streaming safetensors writer in mlx-lm's layout (mlx_lm/utils.py save_model):
// shards named model.safetensors or model-0000i-of-0000N.safetensors, at most
// 5 GiB each, tensors never split, `{"format":"mlx"}` metadata, and an index
// written even for one shard. The header is written first from a plan, so
// tensor data can be streamed in row chunks and memory stays bounded.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DType } from './dtype.js';
import { CheckpointError, MlxkError } from './errors.js';
import { tensorBytes } from './safetensors.js';

export const DEFAULT_MAX_SHARD_BYTES = 5 * 2 ** 30;

export interface PlannedTensor {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface ShardPlan {
  file: string;
  tensors: PlannedTensor[];
  bytes: number;
}

/**
 * mlx-lm's rule (start a new shard when adding would exceed the cap; tensors are
 * never split), applied to groups: a module's weight, scales and biases stay in
 * one shard so a module can be computed and written in one pass.
 */
export function planShards(groups: readonly (readonly PlannedTensor[])[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): ShardPlan[] {
  const shards: { tensors: PlannedTensor[]; bytes: number }[] = [];
  let cur: { tensors: PlannedTensor[]; bytes: number } = { tensors: [], bytes: 0 };
  for (const group of groups) {
    const n = group.reduce((a, t) => a + tensorBytes(t.dtype, t.shape), 0);
    if (cur.tensors.length > 0 && cur.bytes + n > maxShardBytes) {
      shards.push(cur);
      cur = { tensors: [], bytes: 0 };
    }
    cur.tensors.push(...group);
    cur.bytes += n;
  }
  if (cur.tensors.length > 0) shards.push(cur);
  return shards.map((g, i) => ({ ...g, file: shardFileName(i, shards.length) }));
}

export function shardFileName(index: number, count: number): string {
  if (count === 1) return 'model.safetensors';
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/**
 * Header bytes for a shard. Tensors whose size is a multiple of 64 go first and the
 * header is padded with spaces (allowed by the spec) so their data starts 64-byte
 * aligned, which lets kernels use memory-mapped weights in place.
 */
export function shardHeader(tensors: readonly PlannedTensor[], metadata: Record<string, string>): { header: Buffer; order: PlannedTensor[]; dataBytes: number } {
  const aligned = tensors.filter((t) => tensorBytes(t.dtype, t.shape) % 64 === 0);
  const rest = tensors.filter((t) => tensorBytes(t.dtype, t.shape) % 64 !== 0);
  const order = [...aligned, ...rest];
  const entries: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of order) {
    const n = tensorBytes(t.dtype, t.shape);
    entries[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = Buffer.from(JSON.stringify(entries), 'utf8');
  const padded = Math.ceil((8 + json.length) / 64) * 64 - 8;
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(header, 8);
  return { header, order, dataBytes: offset };
}

function describeWriteError(path: string, e: unknown): MlxkError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new CheckpointError(path, 'disk full while writing; the partial file was removed', 'free space (see `mlxk plan` for the size needed) and re-run: finished shards are kept');
  if (code === 'EDQUOT') return new CheckpointError(path, 'disk quota exceeded while writing; the partial file was removed');
  return new CheckpointError(path, `write failed (${code ?? (e as Error).message}); the partial file was removed`);
}

/**
 * Writes one shard: the header up front, then tensor bytes at any offset within
 * each tensor, in any order (positioned writes), so a module's weight, scales and
 * biases can be filled chunk by chunk. The file appears under its final name
 * only once every byte has been written and synced.
 */
export class ShardWriter {
  readonly order: PlannedTensor[];
  private fd: number;
  private readonly partial: string;
  private readonly layout = new Map<string, { start: number; size: number; written: number }>();

  constructor(readonly path: string, tensors: readonly PlannedTensor[], metadata: Record<string, string> = { format: 'mlx' }) {
    const { header, order } = shardHeader(tensors, metadata);
    this.order = order;
    let pos = header.length;
    for (const t of order) {
      const size = tensorBytes(t.dtype, t.shape);
      this.layout.set(t.name, { start: pos, size, written: 0 });
      pos += size;
    }
    this.partial = `${path}.partial`;
    try {
      this.fd = openSync(this.partial, 'w');
    } catch (e) {
      throw new CheckpointError(this.partial, `cannot create (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    this.put(header, 0);
  }

  /** Write `bytes` at byte `offset` of tensor `name`'s data. */
  write(name: string, offset: number, bytes: Uint8Array): void {
    const t = this.layout.get(name);
    if (!t) throw new Error(`ShardWriter: "${name}" is not in ${basename(this.path)}`);
    if (offset < 0 || offset + bytes.length > t.size) throw new Error(`ShardWriter: ${bytes.length} bytes at ${offset} overflow "${name}" (${t.size} bytes)`);
    this.put(bytes, t.start + offset);
    t.written += bytes.length;
  }

  finish(): void {
    for (const [name, t] of this.layout) {
      if (t.written !== t.size) {
        this.abort();
        throw new Error(`ShardWriter: "${name}" got ${t.written} of ${t.size} bytes`);
      }
    }
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
    } catch (e) {
      this.abort();
      throw describeWriteError(this.path, e);
    }
    renameSync(this.partial, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.partial, { force: true });
  }

  private put(bytes: Uint8Array, position: number): void {
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
    } catch (e) {
      this.abort();
      throw describeWriteError(this.path, e);
    }
  }
}

/** Write a whole file atomically (temp name, fsync, rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.partial`;
  try {
    writeFileSync(tmp, data);
    const fd = openSync(tmp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw describeWriteError(path, e);
  }
}

/** mlx-lm's model.safetensors.index.json: sorted weight_map, total_size and total_parameters. */
export function writeIndex(dir: string, shards: readonly ShardPlan[], totalParameters: number): void {
  const weightMap: Record<string, string> = {};
  const names: [string, string][] = [];
  let totalSize = 0;
  for (const s of shards) {
    totalSize += s.bytes;
    for (const t of s.tensors) names.push([t.name, basename(s.file)]);
  }
  names.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [n, f] of names) weightMap[n] = f;
  const index = { metadata: { total_size: totalSize, total_parameters: totalParameters }, weight_map: weightMap };
  writeFileAtomic(join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 4));
}

/** Convenience for small files (tests, synth): write named tensors into one shard. */
export function writeSafetensors(path: string, tensors: { name: string; dtype: DType; shape: number[]; data: Uint8Array }[], metadata: Record<string, string> = { format: 'mlx' }): void {
  const w = new ShardWriter(path, tensors, metadata);
  for (const t of tensors) w.write(t.name, 0, t.data);
  w.finish();
}

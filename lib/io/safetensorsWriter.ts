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

/** mlx-lm's rule: start a new shard when adding a tensor would exceed the cap. */
export function planShards(tensors: readonly PlannedTensor[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): ShardPlan[] {
  const groups: { tensors: PlannedTensor[]; bytes: number }[] = [];
  let cur: { tensors: PlannedTensor[]; bytes: number } = { tensors: [], bytes: 0 };
  for (const t of tensors) {
    const n = tensorBytes(t.dtype, t.shape);
    if (cur.tensors.length > 0 && cur.bytes + n > maxShardBytes) {
      groups.push(cur);
      cur = { tensors: [], bytes: 0 };
    }
    cur.tensors.push(t);
    cur.bytes += n;
  }
  if (cur.tensors.length > 0) groups.push(cur);
  return groups.map((g, i) => ({ ...g, file: shardFileName(i, groups.length) }));
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
 * Writes one shard: header up front, then each tensor's bytes in plan order,
 * possibly in several pieces. The file appears under its final name only after
 * every byte has been written and synced.
 */
export class ShardWriter {
  readonly order: PlannedTensor[];
  private fd: number;
  private readonly partial: string;
  private position = 0;
  private index = 0;
  private written = 0;
  private readonly sizes: number[];

  constructor(readonly path: string, tensors: readonly PlannedTensor[], metadata: Record<string, string> = { format: 'mlx' }) {
    const { header, order } = shardHeader(tensors, metadata);
    this.order = order;
    this.sizes = order.map((t) => tensorBytes(t.dtype, t.shape));
    this.partial = `${path}.partial`;
    try {
      this.fd = openSync(this.partial, 'w');
    } catch (e) {
      throw new CheckpointError(this.partial, `cannot create (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    this.put(header);
    this.skipEmpty();
  }

  /** Name of the tensor whose bytes are expected next. */
  get expecting(): string | undefined {
    return this.order[this.index]?.name;
  }

  write(name: string, bytes: Uint8Array): void {
    const t = this.order[this.index];
    if (!t || t.name !== name) throw new Error(`ShardWriter: got bytes for "${name}", expected "${t?.name ?? '(end of shard)'}"`);
    const size = this.sizes[this.index]!;
    if (this.written + bytes.length > size) throw new Error(`ShardWriter: "${name}" overflows its ${size} bytes`);
    this.put(bytes);
    this.written += bytes.length;
    if (this.written === size) {
      this.index++;
      this.written = 0;
      this.skipEmpty();
    }
  }

  private skipEmpty(): void {
    while (this.index < this.order.length && this.sizes[this.index] === 0) this.index++;
  }

  finish(): void {
    if (this.index < this.order.length) throw new Error(`ShardWriter: "${this.order[this.index]!.name}" was not fully written`);
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

  private put(bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) {
        done += writeSync(this.fd, bytes, done, bytes.length - done, this.position + done);
      }
      this.position += bytes.length;
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
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const t of w.order) {
    const bytes = byName.get(t.name)!.data;
    if (bytes.length !== tensorBytes(t.dtype, t.shape)) {
      w.abort();
      throw new Error(`writeSafetensors: "${t.name}" has ${bytes.length} bytes, ${t.dtype}${JSON.stringify(t.shape)} needs ${tensorBytes(t.dtype, t.shape)}`);
    }
    if (bytes.length > 0) w.write(t.name, bytes);
  }
  w.finish();
}

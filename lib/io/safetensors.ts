// Lazy safetensors reader: only the header is parsed at open; tensor bytes are
// read on demand with positioned reads, so a shard is never held in memory.
// Format: https://github.com/huggingface/safetensors (8-byte LE header length,
// JSON header, then the data buffer). MLX writes headers without alignment
// padding, so data offsets may be odd; reads copy into fresh buffers.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { DTYPE_BYTES, type DType, isDType } from './dtype.js';
import { CheckpointError } from './errors.js';

/** The safetensors spec caps the header at 100 MB; real headers are far smaller. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const MAX_READ_CHUNK = 1 << 30;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offsets in the file (header included), end exclusive. */
  start: number;
  end: number;
  file: string;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensorBytes(dtype: DType, shape: readonly number[]): number {
  return elementCount(shape) * DTYPE_BYTES[dtype];
}

/** Parse and validate a header; exported for fuzzing. `fileSize` is the whole file's size. */
export function parseHeader(file: string, headerBytes: Uint8Array, fileSize: number): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const dataStart = 8 + headerBytes.length;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new CheckpointError(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError(file, 'header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}');
  }
  const repeated = repeatedTopLevelKey(headerBytes);
  if (repeated !== undefined) throw new CheckpointError(file, `header names tensor ${JSON.stringify(repeated)} twice`);
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      // MLX's save_safetensors writes null when no metadata is passed.
      if (entry === null) continue;
      if (typeof entry !== 'object' || Array.isArray(entry)) {
        throw new CheckpointError(file, '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new CheckpointError(file, `__metadata__.${k} must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new CheckpointError(file, `tensor "${name}": entry must be an object`);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) {
      throw new CheckpointError(file, `tensor "${name}": unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(' ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(file, `tensor "${name}": shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(file, `tensor "${name}": data_offsets must be [begin, end] integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = tensorBytes(dtype, shape as number[]);
    if (end < begin) throw new CheckpointError(file, `tensor "${name}": data_offsets [${begin}, ${end}] end before begin`);
    if (end - begin !== expected) {
      throw new CheckpointError(file, `tensor "${name}": ${dtype}${JSON.stringify(shape)} needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    if (end > dataSize) {
      throw new CheckpointError(file, `tensor "${name}": data ends at byte ${end} of the data section but the file holds only ${Math.max(0, dataSize)} (truncated?)`);
    }
    tensors.push({ name, dtype, shape: shape as number[], start: dataStart + begin, end: dataStart + end, file });
  }
  // The spec: the data section is entirely indexed, without holes. A shifted header length or
  // appended bytes otherwise pass unnoticed and every tensor reads garbage.
  const sorted = tensors.filter((t) => t.end > t.start).sort((a, b) => a.start - b.start);
  let at = dataStart;
  for (let i = 0; i < sorted.length; i++) {
    const cur = sorted[i]!;
    if (cur.start < at) throw new CheckpointError(file, `tensors "${sorted[i - 1]!.name}" and "${cur.name}" overlap in the data section`);
    if (cur.start > at) {
      const where = i === 0 ? 'before the first tensor' : `between "${sorted[i - 1]!.name}" and "${cur.name}"`;
      throw new CheckpointError(file, `${cur.start - at} bytes of the data section ${where} belong to no tensor (header length or data_offsets wrong?)`);
    }
    at = cur.end;
  }
  if (at !== fileSize) throw new CheckpointError(file, `${fileSize - at} bytes after the last tensor belong to no tensor (header length wrong, or bytes appended?)`);
  return { tensors, metadata };
}

/**
 * A key that appears twice at the top level of a JSON object (JSON.parse keeps the last, silently).
 * The text already parsed, so only strings and nesting need tracking.
 */
export function repeatedTopLevelKey(bytes: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(bytes);
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return undefined;
}

export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string>;
  readonly size: number;
  private fd: number | null;

  private constructor(readonly path: string, fd: number, size: number, tensors: TensorInfo[], metadata: Record<string, string>) {
    this.fd = fd;
    this.size = size;
    this.metadata = metadata;
    for (const t of tensors) this.tensors.set(t.name, t);
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new CheckpointError(path, `file is ${size} bytes; a safetensors file starts with an 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = lenBuf.readBigUInt64LE(0);
      if (headerLen === 0n || headerLen > BigInt(MAX_HEADER_BYTES)) {
        throw new CheckpointError(path, `header length ${headerLen} is outside 1..${MAX_HEADER_BYTES} (not a safetensors file?)`);
      }
      if (8n + headerLen > BigInt(size)) {
        throw new CheckpointError(path, `header length ${headerLen} exceeds the file size ${size} (truncated?)`);
      }
      const header = Buffer.alloc(Number(headerLen));
      readFully(fd, header, 8, path);
      const { tensors, metadata } = parseHeader(path, header, size);
      return new SafetensorsFile(path, fd, size, tensors, metadata);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get name(): string {
    return basename(this.path);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `has no tensor "${name}"`);
    return t;
  }

  /** Bytes [offset, offset+length) of a tensor's data, in a fresh (aligned) buffer. */
  readRange(name: string, offset: number, length: number): Buffer {
    // allocUnsafeSlow: never a slice of Node's shared pool, so typed-array views of it are aligned.
    const buf = Buffer.allocUnsafeSlow(length);
    this.readInto(name, offset, buf);
    return buf;
  }

  /** Fills `buf` with the tensor's bytes from `offset` on (callers streaming a tensor reuse one buffer). */
  readInto(name: string, offset: number, buf: Uint8Array): void {
    const t = this.info(name);
    if (offset < 0 || t.start + offset + buf.length > t.end) {
      throw new CheckpointError(this.path, `read of ${buf.length} bytes at ${offset} is outside tensor "${name}" (${t.end - t.start} bytes)`);
    }
    readFully(this.fdOrThrow(), buf, t.start + offset, this.path);
  }

  read(name: string): Buffer {
    const t = this.info(name);
    return this.readRange(name, 0, t.end - t.start);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private fdOrThrow(): number {
    if (this.fd === null) throw new CheckpointError(this.path, 'read after close');
    return this.fd;
  }
}

function readFully(fd: number, buf: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, Math.min(MAX_READ_CHUNK, buf.length - done), position + done);
    if (n === 0) throw new CheckpointError(path, `unexpected end of file at byte ${position + done} (truncated?)`);
    done += n;
  }
}

// GGUF container: header, metadata and tensor table, and float32 tensor data —
// what llama.cpp's imatrix files need. Layout after llama.cpp ggml/include/gguf.h
// and ggml/src/gguf.cpp (commit 34af94cd): "GGUF", u32 version, u64 tensor count,
// u64 kv count, the kvs, the tensor infos, padding to general.alignment, data.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CheckpointError } from './errors.js';
import { writeFileAtomic } from './safetensorsWriter.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;
const GGML_TYPE_F32 = 0;
/** ggml's own limits (GGML_MAX_DIMS, GGUF_MAX_STRING_LENGTH); names are at most 63 bytes in ggml_tensor. */
const MAX_DIMS = 4;
const MAX_STRING = 1 << 30;

export enum GgufType { U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12 }
const SCALAR_BYTES: Partial<Record<GgufType, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export type GgufScalar = number | bigint | boolean | string;
export interface GgufKv { type: GgufType; /** for arrays: the element type */ elemType?: GgufType; value: GgufScalar | GgufScalar[] }

export interface GgufTensorInfo {
  name: string;
  /** ggml order: ne[0] is the innermost (contiguous) axis. */
  ne: number[];
  type: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
}

export interface GgufHeader {
  file: string;
  version: number;
  kv: Map<string, GgufKv>;
  tensors: GgufTensorInfo[];
  fileSize: number;
}

/** Sequential little-endian reads over a file descriptor, every length checked against the file size. */
class Reader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly fd: number, readonly size: number, private readonly file: string) {}

  fail(field: string, detail: string): never {
    throw new CheckpointError(this.file, `GGUF ${field}: ${detail}`, 'the file is not a complete GGUF file; write it again');
  }

  bytes(n: number, field: string): Buffer {
    if (n < 0 || this.pos + n > this.size) this.fail(field, `needs ${n} bytes at offset ${this.pos}, file has ${this.size}`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      this.buf = Buffer.alloc(Math.max(n, 1 << 16));
      this.bufStart = this.pos;
      readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - this.pos), this.pos);
    }
    const off = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(off, off + n);
  }

  u32(field: string): number { return this.bytes(4, field).readUInt32LE(0); }
  u64(field: string): number {
    const v = this.bytes(8, field).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(field, `${v} is beyond any file size`);
    return Number(v);
  }

  string(field: string): string {
    const n = this.u64(`${field} length`);
    if (n > MAX_STRING) this.fail(field, `string of ${n} bytes (most ${MAX_STRING})`);
    const b = this.bytes(n, field);
    const s = b.toString('utf8');
    if (Buffer.byteLength(s) !== n) this.fail(field, 'is not valid UTF-8');
    return s;
  }

  scalar(type: GgufType, field: string): GgufScalar {
    switch (type) {
      case GgufType.U8: return this.bytes(1, field).readUInt8(0);
      case GgufType.I8: return this.bytes(1, field).readInt8(0);
      case GgufType.U16: return this.bytes(2, field).readUInt16LE(0);
      case GgufType.I16: return this.bytes(2, field).readInt16LE(0);
      case GgufType.U32: return this.bytes(4, field).readUInt32LE(0);
      case GgufType.I32: return this.bytes(4, field).readInt32LE(0);
      case GgufType.F32: return this.bytes(4, field).readFloatLE(0);
      case GgufType.BOOL: {
        const b = this.bytes(1, field).readUInt8(0);
        if (b > 1) this.fail(field, `bool byte ${b} (expected 0 or 1)`);
        return b === 1;
      }
      case GgufType.STRING: return this.string(field);
      case GgufType.U64: return this.bytes(8, field).readBigUInt64LE(0);
      case GgufType.I64: return this.bytes(8, field).readBigInt64LE(0);
      case GgufType.F64: return this.bytes(8, field).readDoubleLE(0);
      default: return this.fail(field, `value type ${type} is not a GGUF type (0..12)`);
    }
  }
}

/** Reads and validates a GGUF file's header, metadata and tensor table (no tensor data). */
export function readGgufHeader(file: string): GgufHeader {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const r = new Reader(fd, size, file);
    if (size < 4 || r.u32('magic') !== GGUF_MAGIC) r.fail('magic', 'is not "GGUF"');
    const version = r.u32('version');
    if (version < 2 || version > 3) r.fail('version', `${version} (this reader knows 2 and 3)`);
    const nTensors = r.u64('tensor count');
    const nKv = r.u64('kv count');
    // each kv takes ≥ 12 bytes and each tensor info ≥ 24: counts beyond that are corrupt
    if (nKv * 12 + nTensors * 24 > size) r.fail('counts', `${nTensors} tensors and ${nKv} kvs do not fit in ${size} bytes`);
    const kv = new Map<string, GgufKv>();
    for (let i = 0; i < nKv; i++) {
      const key = r.string(`kv[${i}] key`);
      if (kv.has(key)) r.fail(`kv "${key}"`, 'appears twice');
      const type = r.u32(`kv "${key}" type`) as GgufType;
      if (type === GgufType.ARRAY) {
        const elemType = r.u32(`kv "${key}" array type`) as GgufType;
        if (elemType === GgufType.ARRAY) r.fail(`kv "${key}"`, 'nested arrays are not GGUF');
        const n = r.u64(`kv "${key}" array length`);
        const least = SCALAR_BYTES[elemType] ?? 8;
        if (n * least > size - r.pos) r.fail(`kv "${key}"`, `array of ${n} elements does not fit in the file`);
        const value: GgufScalar[] = [];
        for (let j = 0; j < n; j++) value.push(r.scalar(elemType, `kv "${key}"[${j}]`));
        kv.set(key, { type, elemType, value });
      } else {
        kv.set(key, { type, value: r.scalar(type, `kv "${key}"`) });
      }
    }
    const align = kv.get('general.alignment');
    if (align && align.type !== GgufType.U32) r.fail('general.alignment', `type ${align.type} (expected u32)`);
    const alignment = align ? (align.value as number) : DEFAULT_ALIGNMENT;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) r.fail('general.alignment', `${alignment} is not a power of 2`);
    const infos: { name: string; ne: number[]; type: number; rel: number }[] = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = r.string(`tensor[${i}] name`);
      if (name.length === 0 || Buffer.byteLength(name) > 63) r.fail(`tensor[${i}] name`, `"${name}" must be 1..63 bytes`);
      if (names.has(name)) r.fail(`tensor "${name}"`, 'appears twice');
      names.add(name);
      const nDims = r.u32(`tensor "${name}" n_dims`);
      if (nDims < 1 || nDims > MAX_DIMS) r.fail(`tensor "${name}" n_dims`, `${nDims} (expected 1..${MAX_DIMS})`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const n = r.u64(`tensor "${name}" ne[${d}]`);
        if (n < 1) r.fail(`tensor "${name}" ne[${d}]`, `${n} (expected ≥ 1)`);
        ne.push(n);
      }
      const type = r.u32(`tensor "${name}" type`);
      const rel = r.u64(`tensor "${name}" offset`);
      if (rel % alignment !== 0) r.fail(`tensor "${name}" offset`, `${rel} is not a multiple of the alignment ${alignment}`);
      infos.push({ name, ne, type, rel });
    }
    const dataStart = nTensors > 0 ? Math.ceil(r.pos / alignment) * alignment : r.pos;
    const tensors = infos.map(({ name, ne, type, rel }) => {
      const offset = dataStart + rel;
      if (type === GGML_TYPE_F32) {
        const bytes = ne.reduce((a, b) => a * b, 4);
        if (offset + bytes > size) r.fail(`tensor "${name}"`, `data [${offset}, ${offset + bytes}) runs past the end of the file (${size} bytes)`);
      } else if (offset > size) {
        r.fail(`tensor "${name}" offset`, `${offset} is past the end of the file (${size} bytes)`);
      }
      return { name, ne, type, offset };
    });
    return { file, version, kv, tensors, fileSize: size };
  } finally {
    closeSync(fd);
  }
}

/** A float32 tensor's values (validated by readGgufHeader to lie inside the file). */
export function readGgufF32(header: GgufHeader, t: GgufTensorInfo): Float32Array {
  if (t.type !== GGML_TYPE_F32) throw new CheckpointError(header.file, `GGUF tensor "${t.name}": ggml type ${t.type}, expected 0 (F32)`);
  const n = t.ne.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const fd = openSync(header.file, 'r');
  try {
    readSync(fd, new Uint8Array(out.buffer), 0, n * 4, t.offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

export interface GgufTensorOut { name: string; ne: number[]; data: Float32Array }

function encodeString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function encodeScalar(type: GgufType, v: GgufScalar): Buffer {
  if (type === GgufType.STRING) return encodeString(v as string);
  const b = Buffer.alloc(SCALAR_BYTES[type]!);
  switch (type) {
    case GgufType.U8: b.writeUInt8(v as number); break;
    case GgufType.I8: b.writeInt8(v as number); break;
    case GgufType.U16: b.writeUInt16LE(v as number); break;
    case GgufType.I16: b.writeInt16LE(v as number); break;
    case GgufType.U32: b.writeUInt32LE(v as number); break;
    case GgufType.I32: b.writeInt32LE(v as number); break;
    case GgufType.F32: b.writeFloatLE(v as number); break;
    case GgufType.BOOL: b.writeUInt8(v ? 1 : 0); break;
    case GgufType.U64: b.writeBigUInt64LE(BigInt(v as number | bigint)); break;
    case GgufType.I64: b.writeBigInt64LE(BigInt(v as number | bigint)); break;
    case GgufType.F64: b.writeDoubleLE(v as number); break;
    default: throw new Error(`GGUF type ${type} is not a scalar`);
  }
  return b;
}

/** Writes a GGUF v3 file of float32 tensors, atomically (alignment 32, tensors in the order given). */
export function writeGguf(file: string, kv: ReadonlyMap<string, GgufKv>, tensors: readonly GgufTensorOut[]): void {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(24);
  head.writeUInt32LE(GGUF_MAGIC, 0);
  head.writeUInt32LE(3, 4);
  head.writeBigUInt64LE(BigInt(tensors.length), 8);
  head.writeBigUInt64LE(BigInt(kv.size), 16);
  parts.push(head);
  for (const [key, { type, elemType, value }] of kv) {
    parts.push(encodeString(key), encodeScalar(GgufType.U32, type));
    if (type === GgufType.ARRAY) {
      const arr = value as GgufScalar[];
      const hdr = Buffer.alloc(12);
      hdr.writeUInt32LE(elemType!, 0);
      hdr.writeBigUInt64LE(BigInt(arr.length), 4);
      parts.push(hdr, ...arr.map((v) => encodeScalar(elemType!, v)));
    } else {
      parts.push(encodeScalar(type, value as GgufScalar));
    }
  }
  let rel = 0;
  const pad = (n: number) => Math.ceil(n / DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
  for (const t of tensors) {
    // trailing axes of 1 are not written (ggml_n_dims), so [n, 1] is stored as [n]
    let dims = t.ne.length;
    while (dims > 1 && t.ne[dims - 1] === 1) dims--;
    const info = Buffer.alloc(4 + 8 * dims + 4 + 8);
    let o = info.writeUInt32LE(dims, 0);
    for (const n of t.ne.slice(0, dims)) o = info.writeBigUInt64LE(BigInt(n), o);
    o = info.writeUInt32LE(GGML_TYPE_F32, o);
    info.writeBigUInt64LE(BigInt(rel), o);
    parts.push(encodeString(t.name), info);
    rel = pad(rel + t.data.length * 4);
  }
  const headerLen = parts.reduce((a, b) => a + b.length, 0);
  parts.push(Buffer.alloc(pad(headerLen) - headerLen));
  for (const t of tensors) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    parts.push(bytes, Buffer.alloc(pad(bytes.length) - bytes.length));
  }
  writeFileAtomic(file, Buffer.concat(parts));
}

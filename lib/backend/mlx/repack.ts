// Codes of widths node-mlx 0.0.7's kernels lack (1/3/5/6/7 bits) rewritten at the narrowest width
// they have (3 → 4, 5/6/7 → 8): exact, since every code fits, and the scales and biases stay as
// they are. The rewrite runs in JavaScript over the stored words, a bounded chunk of rows at a
// time, into a one-tensor temporary safetensors file that mx.load then reads straight into the
// array: loading never holds the stored codes beside the wider copy, nor the uint32-per-code
// intermediates an unpack inside MLX makes (4 bytes a value: those put the small synthetic Kimi's
// load peak at 7.6× its file).
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { core } from '@frost-beta/mlx';
import { MlxkError } from '../../io/errors.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import { shardHeader } from '../../io/safetensorsWriter.js';
import { KERNEL_BITS } from './affine.js';

type Mx = typeof core;
type MxArray = core.array;

/** Where a packed-words array was read from, so its codes can be streamed from the file. */
export interface CodesOrigin {
  path: string;
  name: string;
}

/** Codes per chunk: bounds the rewrite's buffers (≤ 1.4 bytes a code) whatever the tensor's size. */
const CHUNK_CODES = 1 << 20;

/** The width a code of `bits` bits is held at on this backend. */
export function heldBits(bits: number): number {
  for (const b of [...KERNEL_BITS].sort((x, y) => x - y)) if (b >= bits) return b;
  return bits;
}

/**
 * The words [..., cols·bits/32] rewritten at `target` bits, evaluated. Without an origin (an array
 * computed rather than read) the words are saved to a temporary file first and streamed from there.
 */
export function repackWords(mx: Mx, words: MxArray, origin: CodesOrigin | undefined, cols: number, bits: number, target: number): MxArray {
  const dir = makeTempDir();
  try {
    let from = origin;
    if (!from) {
      from = { path: join(dir, 'stored.safetensors'), name: 'w' };
      mx.saveSafetensors(from.path, { w: words });
    }
    const out = join(dir, 'held.safetensors');
    streamRepack(from, out, cols, bits, target);
    const held = (mx.load(out) as unknown as Record<string, MxArray>).w!;
    mx.eval(held);
    return held;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function makeTempDir(): string {
  try {
    return mkdtempSync(join(tmpdir(), 'mlxk-repack-'));
  } catch (e) {
    throw new MlxkError(`cannot create a temporary folder in ${tmpdir()} for the mlx backend's code rewrite (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'set TMPDIR to a writable folder');
  }
}

function streamRepack(from: CodesOrigin, out: string, cols: number, bits: number, target: number): void {
  const src = SafetensorsFile.open(from.path);
  let fd: number | null = null;
  try {
    const info = src.info(from.name);
    const lead = info.shape.slice(0, -1);
    const rows = lead.reduce((a, b) => a * b, 1);
    const inWords = (cols * bits) / 32;
    const outWords = (cols * target) / 32;
    const { header } = shardHeader([{ name: 'w', dtype: 'U32', shape: [...lead, outWords] }], { format: 'mlx' });
    fd = openSync(out, 'w');
    let pos = put(fd, header, 0, out);
    const chunkRows = Math.max(1, Math.floor(CHUNK_CODES / cols));
    const stored = new Int32Array(chunkRows * inWords);
    const held = new Int32Array(chunkRows * outWords);
    for (let r = 0; r < rows; r += chunkRows) {
      const n = Math.min(chunkRows, rows - r);
      src.readInto(from.name, r * inWords * 4, new Uint8Array(stored.buffer, 0, n * inWords * 4));
      rewriteRows(stored, held, n, cols, bits, target);
      pos = put(fd, new Uint8Array(held.buffer, 0, n * outWords * 4), pos, out);
    }
  } finally {
    if (fd !== null) closeSync(fd);
    src.close();
  }
}

/** Rows of LSB-first `bits`-bit codes (a code may straddle two words; lib/quant/affine.ts pack) as `target`-bit codes. */
function rewriteRows(src: Int32Array, dst: Int32Array, rows: number, cols: number, bits: number, target: number): void {
  const inWords = (cols * bits) / 32;
  const outWords = (cols * target) / 32;
  const mask = (1 << bits) - 1;
  dst.fill(0, 0, rows * outWords);
  for (let r = 0; r < rows; r++) {
    const ib = r * inWords;
    const ob = r * outWords;
    for (let i = 0, bit = 0, obit = 0; i < cols; i++, bit += bits, obit += target) {
      const w = ib + (bit >> 5);
      const off = bit & 31;
      let v = (src[w]! >>> off) & mask;
      if (off + bits > 32) v = (v | (src[w + 1]! << (32 - off))) & mask;
      dst[ob + (obit >> 5)]! |= v << (obit & 31);
    }
  }
}

function put(fd: number, bytes: Uint8Array, pos: number, path: string): number {
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, pos + done);
  } catch (e) {
    throw new MlxkError(`${path}: writing the mlx backend's rewritten codes failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'free space in TMPDIR, or use the native backend, which reads every width in place');
  }
  return pos + bytes.length;
}

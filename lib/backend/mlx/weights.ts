// Weights of the mlx backend and the matrix products over them. Compute is
// float32 (node-mlx's CPU matmul accepts nothing else): dense weights are cast once
// at load. Scales and biases stay in their stored dtype (bf16 for mlx-lm and mlxk
// checkpoints): MLX 0.13's quantized products cast them to the activations' float32
// on each call (mlx@e6fecbb3e mlx/ops.cpp quantized_matmul, block_sparse_qmm), which
// is exact and costs a transient the size of one weight's scales instead of a
// resident copy of every scale at twice its size.
//
// Quantized products on CPU (measured in benchmarks/mlx-linear.ts): the quantized
// matmul kernel is a per-row loop, ~2× a float32 GEMV for one row but 20–70× slower than
// BLAS at 300 rows, while dequantizing a matrix costs about as much as 5–20 kernel rows.
// So a few rows (decode) go through the kernel and more rows (prefill, busy experts)
// through dequantize + BLAS. Codes of bit widths the kernel lacks (3, 5, 6, 7) are
// rewritten once at load at the next width it has (repack.ts), so they take the same paths.
import type { core } from '@frost-beta/mlx';
import { MlxkError } from '../../io/errors.js';
import { dequantizeAny, KERNEL_GROUP_SIZES, kernelSupports } from './affine.js';
import { type CodesOrigin, heldBits, repackWords } from './repack.js';

/** Rows of x from which dequantize + BLAS beats the quantized-matmul kernel. */
export const DEQUANTIZE_FROM_ROWS = 8;

type Mx = typeof core;
type MxArray = core.array;

export type MlxWeight =
  | { kind: 'dense'; w: MxArray; shape: number[] }
  | { kind: 'affine'; w: MxArray; scales: MxArray; biases: MxArray; bits: number; groupSize: number; shape: number[] };

export function denseWeight(mx: Mx, t: MxArray): MlxWeight {
  return { kind: 'dense', w: t.dtype === mx.float32 ? t : t.astype(mx.float32), shape: t.shape };
}

/** `origin`: the file `w` was read from, which a rewrite of its codes streams from (repack.ts). */
export function affineWeight(mx: Mx, w: MxArray, scales: MxArray, biases: MxArray, bits: number, groupSize: number, shape: number[], origin?: CodesOrigin): MlxWeight {
  const cols = shape[shape.length - 1]!;
  const lead = shape.slice(0, -1).join(',');
  const where = `quantized weight of logical shape [${shape}]`;
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new MlxkError(`${where}: ${bits} bits is not supported (expected 2..8)`);
  if (cols % groupSize !== 0 || (cols * bits) % 32 !== 0) throw new MlxkError(`${where}: ${cols} columns do not split into groups of ${groupSize} and whole ${bits}-bit words`);
  if (w.dtype !== mx.uint32 || w.shape.join(',') !== `${lead ? `${lead},` : ''}${(cols * bits) / 32}`) throw new MlxkError(`${where}: packed words are ${String(w.dtype)} [${w.shape}], expected uint32 [${[...shape.slice(0, -1), (cols * bits) / 32]}]`);
  for (const [name, t] of [['scales', scales], ['biases', biases]] as const) {
    if (t.shape.join(',') !== [...shape.slice(0, -1), cols / groupSize].join(',')) throw new MlxkError(`${where}: ${name} are [${t.shape}], expected [${[...shape.slice(0, -1), cols / groupSize]}]`);
  }
  if (kernelSupports(bits, groupSize) || !KERNEL_GROUP_SIZES.has(groupSize)) return { kind: 'affine', w, scales, biases, bits, groupSize, shape };
  const held = heldBits(bits);
  return { kind: 'affine', w: repackWords(mx, w, origin, cols, bits, held), scales, biases, bits: held, groupSize, shape };
}

/** The float32 values of a weight (dequantized when quantized). */
export function dequantized(mx: Mx, w: MlxWeight): MxArray {
  if (w.kind === 'dense') return w.w;
  const cols = w.shape[w.shape.length - 1]!;
  const rows = w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const flat = (t: MxArray) => t.reshape([rows, t.shape[t.shape.length - 1]!]);
  return dequantizeAny(mx, flat(w.w), flat(w.scales), flat(w.biases), cols, w.bits, w.groupSize).reshape(w.shape);
}

/** Entry `i` along the leading axis (one expert of a stacked weight), as a view. */
export function subWeight(mx: Mx, w: MlxWeight, i: number): MlxWeight {
  // A slice is a view of the stacked buffer; integer indexing (a gather) would copy it.
  const at = (t: MxArray) => mx.squeeze(t.index(mx.Slice(i, i + 1)), 0);
  if (w.kind === 'dense') return { kind: 'dense', w: at(w.w), shape: w.shape.slice(1) };
  return { ...w, w: at(w.w), scales: at(w.scales), biases: at(w.biases), shape: w.shape.slice(1) };
}

/** x [..., in] · Wᵀ for a 2-D weight W [out, in]. */
export function matmulT(mx: Mx, x: MxArray, w: MlxWeight): MxArray {
  const rows = x.size / x.shape[x.shape.length - 1]!;
  if (w.kind === 'affine' && kernelSupports(w.bits, w.groupSize) && rows < DEQUANTIZE_FROM_ROWS) return mx.quantizedMatmul(x, w.w, w.scales, w.biases, true, w.groupSize, w.bits);
  return mx.matmul(x, dequantized(mx, w).T);
}

/** Rows `ids` [T] of a table [V, H] → [T, H]. */
export function takeRows(mx: Mx, table: MlxWeight, ids: MxArray): MxArray {
  if (table.kind === 'dense') return mx.take(table.w, ids, 0);
  const rows: MlxWeight = { ...table, w: mx.take(table.w, ids, 0), scales: mx.take(table.scales, ids, 0), biases: mx.take(table.biases, ids, 0), shape: [ids.shape[0]!, table.shape[1]!] };
  return dequantized(mx, rows);
}

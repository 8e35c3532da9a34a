// Weights of the mlx backend and the matrix products over them. Compute is
// float32 (node-mlx's CPU matmul accepts nothing else): dense weights are cast once
// at load, scales and biases of quantized weights too.
import type { core } from '@frost-beta/mlx';
import { MlxkError } from '../../io/errors.js';
import { dequantizeAny, kernelSupports } from './affine.js';

type Mx = typeof core;
type MxArray = core.array;

export type MlxWeight =
  | { kind: 'dense'; w: MxArray; shape: number[] }
  | { kind: 'affine'; w: MxArray; scales: MxArray; biases: MxArray; bits: number; groupSize: number; shape: number[] };

export function denseWeight(mx: Mx, t: MxArray): MlxWeight {
  return { kind: 'dense', w: t.dtype === mx.float32 ? t : t.astype(mx.float32), shape: t.shape };
}

export function affineWeight(mx: Mx, w: MxArray, scales: MxArray, biases: MxArray, bits: number, groupSize: number, shape: number[]): MlxWeight {
  const cols = shape[shape.length - 1]!;
  const lead = shape.slice(0, -1).join(',');
  const where = `quantized weight of logical shape [${shape}]`;
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new MlxkError(`${where}: ${bits} bits is not supported (expected 2..8)`);
  if (cols % groupSize !== 0 || (cols * bits) % 32 !== 0) throw new MlxkError(`${where}: ${cols} columns do not split into groups of ${groupSize} and whole ${bits}-bit words`);
  if (w.dtype !== mx.uint32 || w.shape.join(',') !== `${lead ? `${lead},` : ''}${(cols * bits) / 32}`) throw new MlxkError(`${where}: packed words are ${String(w.dtype)} [${w.shape}], expected uint32 [${[...shape.slice(0, -1), (cols * bits) / 32]}]`);
  for (const [name, t] of [['scales', scales], ['biases', biases]] as const) {
    if (t.shape.join(',') !== [...shape.slice(0, -1), cols / groupSize].join(',')) throw new MlxkError(`${where}: ${name} are [${t.shape}], expected [${[...shape.slice(0, -1), cols / groupSize]}]`);
  }
  const f32 = (t: MxArray) => (t.dtype === mx.float32 ? t : t.astype(mx.float32));
  return { kind: 'affine', w, scales: f32(scales), biases: f32(biases), bits, groupSize, shape };
}

/** The float32 values of a weight (dequantized when quantized). */
export function dequantized(mx: Mx, w: MlxWeight): MxArray {
  if (w.kind === 'dense') return w.w;
  const cols = w.shape[w.shape.length - 1]!;
  const rows = w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const flat = (t: MxArray) => t.reshape([rows, t.shape[t.shape.length - 1]!]);
  return dequantizeAny(mx, flat(w.w), flat(w.scales), flat(w.biases), cols, w.bits, w.groupSize).reshape(w.shape);
}

/** Entry `i` along the leading axis (one expert of a stacked weight). */
export function subWeight(w: MlxWeight, i: number): MlxWeight {
  if (w.kind === 'dense') return { kind: 'dense', w: w.w.index(i), shape: w.shape.slice(1) };
  return { ...w, w: w.w.index(i), scales: w.scales.index(i), biases: w.biases.index(i), shape: w.shape.slice(1) };
}

/** x [..., in] · Wᵀ for a 2-D weight W [out, in]. */
export function matmulT(mx: Mx, x: MxArray, w: MlxWeight): MxArray {
  if (w.kind === 'affine' && kernelSupports(w.bits, w.groupSize)) return mx.quantizedMatmul(x, w.w, w.scales, w.biases, true, w.groupSize, w.bits);
  return mx.matmul(x, dequantized(mx, w).T);
}

/** Rows `ids` [T] of a table [V, H] → [T, H]. */
export function takeRows(mx: Mx, table: MlxWeight, ids: MxArray): MxArray {
  if (table.kind === 'dense') return mx.take(table.w, ids, 0);
  const rows: MlxWeight = { ...table, w: mx.take(table.w, ids, 0), scales: mx.take(table.scales, ids, 0), biases: mx.take(table.biases, ids, 0), shape: [ids.shape[0]!, table.shape[1]!] };
  return dequantized(mx, rows);
}

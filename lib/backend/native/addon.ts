// Typed wrapper of the C++ kernel addon (native/, built by node-gyp into
// build/Release during `npm ci`). Kernels run synchronously on a persistent
// thread pool; operands are TypedArrays/Buffers or tensors used in place inside
// memory-mapped files ({file, offset}), any byte alignment.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MlxkError } from '../../io/errors.js';
import type { Bits } from '../../quant/affine.js';
import type { MlaDims } from '../ops.js';

export type ScaleDtype = 'bf16' | 'f16' | 'f32';
export type Isa = 'avx512' | 'avx2' | 'neon' | 'scalar';

/** A read-only memory map of a whole file (PROT_READ, MAP_SHARED). */
export interface MappedFile {
  readonly path: string;
  readonly size: number;
  readonly closed: boolean;
  /** Copies bytes [offset, offset+length) out of the map. */
  read(offset: number, length: number): Buffer;
  /** madvise over a byte range: 'willneed' to start reading a model in the background, 'dontneed' to let go of pages read. */
  advise(offset: number, length: number, how: 'willneed' | 'sequential' | 'random' | 'dontneed'): void;
  /** Unmaps now (otherwise when garbage-collected); later use of its tensors throws. */
  close(): void;
}

/** Bytes at `offset` of a mapped file, used in place by the kernels. */
export interface MappedBytes {
  file: MappedFile;
  offset: number;
}

export type Operand = ArrayBufferView | MappedBytes;

/**
 * A quantized weight in the MLX affine layout: weights [experts?, n, k·bits/32] uint32,
 * scales and biases [experts?, n, k/groupSize] of scaleDtype; y = x·Wᵀ.
 */
export interface QuantTensorRef {
  weights: Operand;
  scales: Operand;
  biases: Operand;
  n: number;
  k: number;
  bits: Bits;
  groupSize: 32 | 64 | 128;
  scaleDtype: ScaleDtype;
  /** Stacked experts (moeQmatmul); absent or 1 for a plain matrix. */
  experts?: number;
}

/**
 * How activations are quantized for the integer dot products (see native/README.md):
 * 8 = int8 per 32-value block (fastest, ≈0.5 % relative error, like llama.cpp's Q8_0);
 * 16 = a second int8 plane for the residual (≈256× smaller error; GEMM does twice the
 * integer work, GEMV stays memory-bound above 2 bits).
 */
export type ActivationBits = 8 | 16;

export interface MatmulOptions {
  activationBits?: ActivationBits;
}

/** A dense (non-quantized) weight [n, k] of bf16, f16 or f32; y = x·Wᵀ in float32. */
export interface DenseTensorRef {
  weights: Operand;
  n: number;
  k: number;
  dtype: ScaleDtype;
}

/** The int8 activations the kernels compute with (exposed so tests can check them). */
export interface QuantizedActivations {
  /** [m, kpad] int8, kpad = k rounded up to 64, zero padded */
  q: Int8Array;
  /** [m, kpad] int8 residual plane (activationBits 16 only) */
  q2?: Int8Array;
  /** [m, kpad/32] absmax/127 per 32-value block (divided by 256 with two planes) */
  d: Float32Array;
  /** [m, k/groupSize] sums of the rounded x (d · Σ codes) per weight group (the bias term uses them) */
  sx: Float32Array;
  kpad: number;
}

/** A weight prepared once for the model ops: [n, k] or a stack [experts, n, k]. */
export interface AddonWeight {
  readonly experts: number;
  readonly n: number;
  readonly k: number;
  readonly quantized: boolean;
  /** Drops the buffers it keeps alive now; any later use throws. */
  release(): void;
}

export type WeightDescriptor = ({ kind: 'quant' } & QuantTensorRef) | ({ kind: 'dense'; experts?: number } & DenseTensorRef);

/**
 * The layers of a forward pass (native/src/model_ops.h), used by the native backend
 * (ops.ts). Float32Arrays are row-major and contiguous unless strides are given;
 * outputs are written into `out`.
 */
export interface ModelOpsAddon {
  Weight: new (desc: WeightDescriptor) => AddonWeight;
  opLinear(x: Float32Array, m: number, w: AddonWeight, out: Float32Array, bias: Float32Array | null, activationBits: ActivationBits): void;
  opGathered(x: Float32Array, rows: number, rowIndex: Int32Array, expertIndex: Int32Array, w: AddonWeight, out: Float32Array, activationBits: ActivationBits): void;
  opMatmulUntransposed(x: Float32Array, tokens: number, xHeads: number, w: AddonWeight, out: Float32Array): void;
  opEmbedding(w: AddonWeight, ids: Int32Array, out: Float32Array): void;
  opRmsNorm(x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): void;
  opRope(x: Float32Array, tokens: number, heads: number, dims: number, positions: Int32Array, invFreq: Float32Array, scale: number, interleaved: boolean, out: Float32Array): void;
  /** Ragged causal attention over B sequences: per segment its query count, key count, key and value arrays with [offset, strideS, strideH]. */
  opAttention(
    q: Float32Array, hq: number, d: number, tokens: Int32Array, keys: Int32Array,
    k: Float32Array[], kGeom: Float64Array, v: Float32Array[], vGeom: Float64Array,
    hkv: number, dv: number, scale: number, out: Float32Array,
  ): void;
  opSwiglu(gate: Float32Array, up: Float32Array, out: Float32Array): void;
  opAdd(a: Float32Array, b: Float32Array, out: Float32Array): void;
  opRouteNoAuxTc(logits: Float32Array, tokens: number, experts: number, bias: Float32Array, topK: number, nGroup: number, topkGroup: number, normTopkProb: boolean, routedScalingFactor: number, indices: Int32Array, weights: Float32Array): void;
  opRouteSoftmaxTopK(logits: Float32Array, tokens: number, experts: number, topK: number, norm: boolean, indices: Int32Array, weights: Float32Array): void;
  opMoe(x: Float32Array, tokens: number, indices: Int32Array, weights: Float32Array, k: number, gate: AddonWeight, up: AddonWeight, down: AddonWeight, out: Float32Array, activationBits: ActivationBits): void;
  /** A DeepSeek-V3 decoder layer prepared for opMlaLayers (native/src/addon_mla.cc). */
  MlaLayer: new (desc: MlaLayerDescriptor) => AddonMlaLayer;
  /** layers over x [Σ tokens, hidden]: sequence b's tokens[b] rows at positions offsets[b]…; caches[l·B + b] is its latent buffer for layer l, written at those positions. */
  opMlaLayers(layers: AddonMlaLayer[], x: Float32Array, tokens: Int32Array, offsets: Int32Array, caches: Float32Array[], out: Float32Array, activationBits: ActivationBits): void;
}

export interface AddonMlaLayer {
  readonly __mlaLayer: unique symbol;
}

export interface MlaLayerDescriptor extends MlaDims {
  invFreq: Float32Array;
  ropeScale: number;
  interleaved: boolean;
  inputNorm: Float32Array;
  qANorm?: Float32Array;
  kvANorm: Float32Array;
  postNorm: Float32Array;
  q?: AddonWeight;
  qA?: AddonWeight;
  qB?: AddonWeight;
  kvA: AddonWeight;
  embedQ: AddonWeight;
  unembedOut: AddonWeight;
  oProj: AddonWeight;
  mlp?: { gate: AddonWeight; up: AddonWeight; down: AddonWeight };
  moe?: { router: AddonWeight; bias: Float32Array; gate: AddonWeight; up: AddonWeight; down: AddonWeight; topK: number; nGroup: number; topkGroup: number; normTopkProb: boolean; routedScalingFactor: number };
}

interface RawAddon extends ModelOpsAddon {
  MappedFile: new (path: string) => MappedFile;
  qmatmul(x: Float32Array, m: number, w: QuantTensorRef, out: Float32Array, activationBits?: ActivationBits): void;
  moeQmatmul(x: Float32Array, rows: number, rowIndex: Int32Array, expertIndex: Int32Array, w: QuantTensorRef, out: Float32Array, activationBits?: ActivationBits): void;
  denseMatmul(x: Float32Array, m: number, w: DenseTensorRef, out: Float32Array): void;
  quantizeActivations(x: Float32Array, m: number, k: number, groupSize: number, activationBits?: ActivationBits): QuantizedActivations;
  setThreads(n: number): void;
  poolStats(reset: boolean): PoolStats;
  threads(): number;
  physicalCores(): number;
  setIsa(name: string): boolean;
  isa(): string;
  isas(): string[];
  readBandwidth(bytes: number, threads: number, reps: number): number;
  quantizeAffine(w: Float32Array, rows: number, cols: number, bits: number, groupSize: number, method: 'rtn' | 'mse' | 'wmse', dtype: ScaleDtype, importance?: Float32Array | null, prior?: string): QuantizedWeights;
  hessianAccumulate(h: Float64Array, n: number, x: Float32Array, tokens: number, rows: Int32Array | null): void;
  gptqFactor(damped: Float64Array, n: number, perm: Int32Array): Float64Array | null;
  gptqQuantize(w: Float32Array, rows: number, cols: number, damped: Float64Array, u: Float64Array, perm: Int32Array, bits: number, groupSize: number, dtype: ScaleDtype, refitSweeps: number, learnedIters: number): CodedWeights;
  refineCodes(w: Float32Array, rows: number, cols: number, codes: Uint8Array, scales: Float32Array, biases: Float32Array, h: Float64Array, bits: number, groupSize: number, dtype: ScaleDtype, refitSweeps: number, learnedIters: number): Uint32Array;
  hessianObjective(w: Float32Array, rows: number, cols: number, codes: Uint8Array, scales: Float32Array, biases: Float32Array, groupSize: number, h: Float64Array): number;
}

/** Integer levels (rows × cols) with their packed words and per-group scales/biases. */
export interface CodedWeights {
  codes: Uint8Array;
  words: Uint32Array;
  scales: Float32Array;
  biases: Float32Array;
}

/** Weights quantized into the MLX affine format, with the squared error of the result. */
export interface QuantizedWeights {
  words: Uint32Array;
  scales: Float32Array;
  biases: Float32Array;
  /** Σ(ŵ − w)² over the float32 dequantization, and Σw². */
  sqErr: number;
  sqRef: number;
}

const builtAddon = fileURLToPath(new URL('../../../../build/Release/mlxk_native.node', import.meta.url));
let cached: RawAddon | undefined;

function addon(): RawAddon {
  if (cached) return cached;
  // MLXK_NATIVE_ADDON: a build of the addon elsewhere (a custom build; tests point it at nothing).
  const addonPath = process.env.MLXK_NATIVE_ADDON || builtAddon;
  if (!existsSync(addonPath)) {
    throw new MlxkError(`native kernels are not built (${addonPath} is missing)`, 'run `npm ci` (it compiles native/ with node-gyp; needs a C++17 compiler)');
  }
  try {
    cached = createRequire(import.meta.url)(addonPath) as RawAddon;
  } catch (e) {
    throw new MlxkError(`native kernels failed to load from ${addonPath}: ${(e as Error).message}`, 'rebuild them with `npm ci`');
  }
  return cached;
}

/** Runs an addon call, turning its argument errors (which name the argument) into MlxkError. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MlxkError) throw e;
    throw new MlxkError((e as Error).message);
  }
}

/** The model ops of the addon (loads it; throws MlxkError with the fix when it is not built). */
export function modelOps(): ModelOpsAddon {
  return addon();
}

/** True when build/Release/mlxk_native.node exists and loads. */
export function nativeAvailable(): boolean {
  try {
    addon();
    return true;
  } catch {
    return false;
  }
}

/** out[m, n] = Σ_k x[m, k]·W[n, k]; x is [m, w.k] row-major. Returns out (allocated when omitted). */
export function qmatmul(x: Float32Array, m: number, w: QuantTensorRef, out = new Float32Array(m * w.n), opts: MatmulOptions = {}): Float32Array {
  call(() => addon().qmatmul(x, m, w, out, opts.activationBits));
  return out;
}

/**
 * Mixture-of-experts product over (row, expert) pairs, like MLX gather_qmm:
 * out[p, :] = x[rowIndex[p], :] · W[expertIndex[p]]ᵀ with W stacked [w.experts, n, k].
 * Pairs are grouped by expert inside, so each used expert's weights are read once;
 * experts with no pair are not touched.
 */
export function moeQmatmul(
  x: Float32Array,
  rows: number,
  rowIndex: Int32Array,
  expertIndex: Int32Array,
  w: QuantTensorRef,
  out = new Float32Array(rowIndex.length * w.n),
  opts: MatmulOptions = {},
): Float32Array {
  if (rowIndex.length !== expertIndex.length) {
    throw new MlxkError(`moeQmatmul: rowIndex has ${rowIndex.length} pairs but expertIndex has ${expertIndex.length}`);
  }
  call(() => addon().moeQmatmul(x, rows, rowIndex, expertIndex, w, out, opts.activationBits));
  return out;
}

/** out[m, n] = Σ_k x[m, k]·W[n, k] for dense bf16/f16/f32 weights (exact float32 arithmetic, no activation quantization). */
export function denseMatmul(x: Float32Array, m: number, w: DenseTensorRef, out = new Float32Array(m * w.n)): Float32Array {
  call(() => addon().denseMatmul(x, m, w, out));
  return out;
}

export function quantizeActivations(x: Float32Array, m: number, k: number, groupSize: number, activationBits: ActivationBits = 8): QuantizedActivations {
  return call(() => addon().quantizeActivations(x, m, k, groupSize, activationBits));
}

/** Maps a file read-only; tensors inside are passed to kernels as {file, offset}. */
export function mapFile(path: string): MappedFile {
  return call(() => new (addon().MappedFile)(path));
}

/** The kernels' thread pool since the last reset: jobs spread over the workers (and their wall time), jobs run inline, the caller's wait for the other threads, workers woken from sleep, jobs whose caller blocked for a late task. */
export interface PoolStats {
  jobs: number;
  inlineJobs: number;
  jobNs: number;
  waitNs: number;
  wakeups: number;
  blockedWaits: number;
}

/** The pool's counters, zeroed afterwards when `reset` (profiling). */
export function poolStats(reset = false): PoolStats {
  return addon().poolStats(reset);
}

/** Threads the kernels use (default: physical cores, or MLXK_THREADS). */
export function setThreads(n: number): void {
  call(() => addon().setThreads(n));
}

export function threads(): number {
  return addon().threads();
}

export function physicalCores(): number {
  return addon().physicalCores();
}

/** Kernel sets this CPU can run, fastest first ('scalar' always last). */
export function supportedIsas(): Isa[] {
  return addon().isas() as Isa[];
}

/** The kernel set in use (MLXK_ISA at load, default the fastest). */
export function isa(): Isa {
  return addon().isa() as Isa;
}

/** Forces a kernel set, e.g. 'scalar' to compare against the SIMD paths. */
export function setIsa(name: Isa | 'auto'): void {
  if (!addon().setIsa(name)) {
    throw new MlxkError(`kernel set "${name}" is not supported on this CPU`, `supported: ${supportedIsas().join(', ')}`);
  }
}

/** GB/s (1e9 bytes/s) of `threads` threads streaming through a private buffer of `bytes`, `reps` passes. */
export function readBandwidth(bytes: number, threads: number, reps: number): number {
  return call(() => addon().readBandwidth(bytes, threads, reps));
}

/**
 * Quantize rows × cols weights (already rounded to `dtype`) into the MLX affine format with
 * MLX's rule ('rtn') or the per-group MSE search ('mse'); bit-identical to
 * lib/quant/affine.ts quantizeRtn and lib/quant/mse.ts quantizeMse. Single-threaded: the
 * converter runs one call per worker thread.
 */
export function quantizeAffine(w: Float32Array, rows: number, cols: number, bits: number, groupSize: number, method: 'rtn' | 'mse' | 'wmse', dtype: ScaleDtype, importance: Float32Array | null = null, prior = 'x2'): QuantizedWeights {
  return call(() => addon().quantizeAffine(w, rows, cols, bits, groupSize, method, dtype, importance, prior));
}

// ---- GPTQ and learned rounding (native/src/gptq.cc; references in lib/quant/gptq.ts, learned.ts) ----

/** h (n×n) += Σ xᵀx over the rows of x [tokens, n], or over the listed rows; bit-identical to lib/calib/hessian.ts. */
export function hessianAccumulate(h: Float64Array, n: number, x: Float32Array, tokens: number, rows: Int32Array | null = null): void {
  call(() => addon().hessianAccumulate(h, n, x, tokens, rows));
}

/** Upper Cholesky factor of (damped[perm, perm])⁻¹, or null when the matrix is not positive definite. */
export function gptqFactor(damped: Float64Array, n: number, perm: Int32Array): Float64Array | null {
  return call(() => addon().gptqFactor(damped, n, perm));
}

/** GPTQ of W [rows, cols], then `refitSweeps` of (scale, bias) refit and `learnedIters` rounds of learned rounding, on all threads. */
export function gptqQuantize(w: Float32Array, rows: number, cols: number, damped: Float64Array, u: Float64Array, perm: Int32Array, bits: number, groupSize: number, dtype: ScaleDtype, refitSweeps: number, learnedIters: number): CodedWeights {
  return call(() => addon().gptqQuantize(w, rows, cols, damped, u, perm, bits, groupSize, dtype, refitSweeps, learnedIters));
}

/** Refit and learned rounding in place (codes, scales, biases) from any start; returns the packed words. */
export function refineCodes(w: Float32Array, rows: number, cols: number, codes: Uint8Array, scales: Float32Array, biases: Float32Array, h: Float64Array, bits: number, groupSize: number, dtype: ScaleDtype, refitSweeps: number, learnedIters: number): Uint32Array {
  return call(() => addon().refineCodes(w, rows, cols, codes, scales, biases, h, bits, groupSize, dtype, refitSweeps, learnedIters));
}

/** Σ_rows (ŵ − w)·H·(ŵ − w)ᵀ, bit-identical to lib/quant/learned.ts hessianObjective. */
export function hessianObjective(w: Float32Array, rows: number, cols: number, codes: Uint8Array, scales: Float32Array, biases: Float32Array, groupSize: number, h: Float64Array): number {
  return call(() => addon().hessianObjective(w, rows, cols, codes, scales, biases, groupSize, h));
}

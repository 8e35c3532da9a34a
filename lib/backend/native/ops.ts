// The ops interface on our own kernels (native/, C++ through N-API). Eager and
// synchronous: activations are float32 host arrays ({data, shape, strides}: tensor.ts),
// weights are used in place inside the memory-mapped safetensors files, and every
// layer is one addon call (one per linear, one per attention, one per MoE block) that
// spreads its work over the kernels' thread pool — except DeepSeek/Kimi models, whose layers
// all run in one call per step (mlaLayers.ts).
//
// Products with quantized weights quantize the activations to int8 per 32 values by
// default (`activationBits: 8`, ≈0.5 % relative error per product); `activationBits: 16`
// adds a second plane for the residual (≈3e-5). Dense weights are exact float32. See
// native/README.md.
import { MlxkError } from '../../io/errors.js';
import { type AffineParts, checkSegments, type KeptTensors, type ExpertWeights, type NoAuxRouteOptions, type Ops, type RopeSpec, type RopeTable, type Route, type Segment, type Tensor, tokenPositions, type Weight } from '../ops.js';
import { type ActivationBits, modelOps, type ModelOpsAddon } from './addon.js';
import { keepTensors } from './keptMemory.js';
import { MlaLayerRunner } from './mlaLayers.js';
import { MappedSafetensors } from './mapped.js';
import * as plumbing from './plumbing.js';
import { collector } from '../gc.js';
import { contiguous, f32, f32Data, HostTensor, hostTensor, MappedTensor, type NativeTensor, sizeOf, toF32 } from './tensor.js';
import { affineWeight, denseWeight, type NativeWeight } from './weights.js';

export interface NativeOpsOptions {
  /** Activation precision of quantized products: 8 (default, fastest) or 16. */
  activationBits?: ActivationBits;
  /** Whole decoder layers per call where a model offers them (Ops.mlaLayers); default MLXK_FUSED_LAYERS, else true. */
  fusedLayers?: boolean;
}

export interface NativeRope {
  invFreq: Float32Array;
  scale: number;
  interleaved: boolean;
}

const nt = (t: Tensor) => t as unknown as NativeTensor;
const ten = (t: NativeTensor) => t as unknown as Tensor;
const nw = (w: Weight) => w as unknown as NativeWeight;
const asWeight = (w: NativeWeight) => w as unknown as Weight;

/** MLXK_FUSED_LAYERS (0 turns the fused decode layers off, for comparisons), else on. */
export function defaultFusedLayers(): boolean {
  const env = process.env.MLXK_FUSED_LAYERS;
  if (env === undefined || env === '' || env === '1') return true;
  if (env === '0') return false;
  throw new MlxkError(`MLXK_FUSED_LAYERS must be 0 or 1, got "${env}"`);
}

/** MLXK_ACTIVATION_BITS, else 8. */
export function defaultActivationBits(): ActivationBits {
  const env = process.env.MLXK_ACTIVATION_BITS;
  if (env === undefined || env === '') return 8;
  if (env !== '8' && env !== '16') throw new MlxkError(`MLXK_ACTIVATION_BITS must be 8 or 16, got "${env}"`);
  return Number(env) as ActivationBits;
}

export class NativeOps implements Ops {
  readonly name = 'native';
  readonly activationBits: ActivationBits;
  private readonly addon: ModelOpsAddon;

  constructor(opts: NativeOpsOptions = {}) {
    this.addon = modelOps();
    this.activationBits = opts.activationBits ?? defaultActivationBits();
    if (this.activationBits !== 8 && this.activationBits !== 16) throw new MlxkError(`activationBits must be 8 or 16, got ${String(this.activationBits)}`);
    if (!(opts.fusedLayers ?? defaultFusedLayers())) this.mlaLayers = undefined;
  }

  mlaLayers?: Ops['mlaLayers'] = (x, layers, caches, segments) => (this.layerRunner ??= new MlaLayerRunner(this.addon, this.activationBits)).run(x, layers, caches, segments);
  private layerRunner: MlaLayerRunner | undefined;

  ids(ids: readonly number[]): Tensor {
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= 2 ** 31) throw new MlxkError(`token id ${id} is not an integer in 0..2^31`);
    return ten(hostTensor('I32', Int32Array.from(ids), [ids.length]));
  }

  constant(values: ArrayLike<number>, shape: number[]): Tensor {
    return ten(f32(Float32Array.from(values), shape));
  }

  read(x: Tensor): Float32Array {
    return toF32(nt(x));
  }

  shape(x: Tensor): number[] {
    return [...nt(x).shape];
  }

  evaluate(): void {}

  heldBytes(xs: Tensor[]): number {
    const seen = new Set<object>();
    let bytes = 0;
    for (const x of xs) {
      const t = nt(x);
      // A mapped tensor's bytes are the file's pages, not the process's own memory.
      if (!(t instanceof HostTensor) || seen.has(t.storage)) continue;
      seen.add(t.storage);
      bytes += t.storage.data.byteLength;
    }
    return bytes;
  }

  keep(xs: Tensor[]): KeptTensors {
    const kept = keepTensors(xs.map(nt));
    return { ...kept, tensors: kept.tensors.map(ten) };
  }

  reclaim(): Promise<void> {
    return Promise.resolve();
  }

  loadSafetensors(path: string): Map<string, Tensor> {
    const st = MappedSafetensors.open(path);
    const out = new Map<string, Tensor>();
    for (const [name, info] of st.tensors) out.set(name, ten(new MappedTensor(info.dtype, info.shape, st.file, info.start)));
    return out;
  }

  dropPages(raw: Tensor[]): void {
    for (const x of raw) {
      const t = nt(x);
      if (t instanceof MappedTensor) t.file.advise(t.byteOffset, t.byteLength, 'dontneed');
    }
  }

  dispose(weights: Weight[]): void {
    for (const w of weights) {
      const n = nw(w);
      if (n.kind === 'matrix') n.handle.release();
    }
    // The host copies are unreachable now; a full collection returns them before the next
    // layer's are made (a synchronous pass gives the collector no idle time of its own).
    collector()?.();
  }

  dense(t: Tensor): Weight {
    return asWeight(denseWeight(this.addon, nt(t)));
  }

  affine(p: AffineParts): Weight {
    return asWeight(affineWeight(this.addon, { weight: nt(p.weight), scales: nt(p.scales), biases: nt(p.biases), bits: p.bits, groupSize: p.groupSize, shape: p.shape }));
  }

  weightShape(w: Weight): number[] {
    return [...nw(w).shape];
  }

  reshape(x: Tensor, shape: number[]): Tensor {
    return ten(plumbing.reshape(nt(x), shape));
  }

  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
    return ten(plumbing.slice(nt(x), axis, start, end));
  }

  concat(xs: Tensor[], axis: number): Tensor {
    return ten(plumbing.concat(xs.map(nt), axis));
  }

  stack(xs: Tensor[], axis: number): Tensor {
    return ten(plumbing.stack(xs.map(nt), axis));
  }

  transpose(x: Tensor, axes: number[]): Tensor {
    return ten(plumbing.transpose(nt(x), axes));
  }

  broadcast(x: Tensor, shape: number[]): Tensor {
    return ten(plumbing.broadcast(nt(x), shape));
  }

  add(a: Tensor, b: Tensor): Tensor {
    return ten(plumbing.add(nt(a), nt(b), (x, y, out) => this.addon.opAdd(x, y, out)));
  }

  zeros(shape: number[]): Tensor {
    return ten(f32(new Float32Array(sizeOf(shape)), shape));
  }

  writeRows(buffer: Tensor, rows: Tensor, at: number): Tensor {
    return ten(plumbing.writeRows(nt(buffer), nt(rows), at));
  }

  embedding(table: Weight, ids: Tensor): Tensor {
    const w = this.matrix(table, 'embedding');
    const t = nt(ids);
    const c = contiguous(t);
    const idx = c.dtype === 'I32' ? (c.storage.data as Int32Array).subarray(c.offset, c.offset + c.size) : Int32Array.from(toF32(c));
    const out = new Float32Array(idx.length * w.handle.k);
    this.addon.opEmbedding(w.handle, idx, out);
    return ten(f32(out, [...t.shape, w.handle.k]));
  }

  rmsNorm(x: Tensor, weight: Weight, eps: number): Tensor {
    const t = nt(x);
    const g = this.vector(weight, 'rmsNorm weight');
    const dim = t.shape[t.shape.length - 1]!;
    if (g.length !== dim) throw new MlxkError(`rmsNorm: weight of ${g.length} values for a last axis of ${dim}`);
    const out = new Float32Array(t.size);
    this.addon.opRmsNorm(f32Data(t), t.size / dim, dim, g, eps, out);
    return ten(f32(out, t.shape));
  }

  linear(x: Tensor, w: Weight, bias?: Weight): Tensor {
    const m = this.matrix(w, 'linear');
    const t = nt(x);
    const { n, k } = m.handle;
    if (m.handle.experts !== 1) throw new MlxkError(`linear: weight [${m.shape}] is a stack; expected [out, in]`);
    if (t.shape[t.shape.length - 1] !== k) throw new MlxkError(`linear: x [${t.shape}] against a weight [${m.shape}]`);
    const rows = t.size / k;
    const b = bias ? this.vector(bias, 'linear bias') : null;
    if (b && b.length !== n) throw new MlxkError(`linear: bias of ${b.length} values for ${n} outputs`);
    const out = new Float32Array(rows * n);
    if (rows > 0) this.addon.opLinear(f32Data(t), rows, m.handle, out, b, this.activationBits);
    return ten(f32(out, [...t.shape.slice(0, -1), n]));
  }

  perHeadLinear(x: Tensor, w: Weight, transpose: boolean): Tensor {
    const m = this.matrix(w, 'perHeadLinear');
    const t = nt(x);
    const [T, xh, dim] = t.shape as [number, number, number];
    const { experts: H, n, k } = m.handle;
    if (t.shape.length !== 3 || (xh !== 1 && xh !== H) || dim !== (transpose ? k : n)) {
      throw new MlxkError(`perHeadLinear: x [${t.shape}] against per-head weights [${m.shape}] (transpose ${transpose})`);
    }
    if (!transpose) {
      const out = new Float32Array(T * H * k);
      this.addon.opMatmulUntransposed(f32Data(t), T, xh, m.handle, out);
      return ten(f32(out, [T, H, k]));
    }
    // Pair (t, h) takes row t·xh + h (or t when the head axis is shared) through head h's matrix.
    const rowIndex = new Int32Array(T * H);
    const headIndex = new Int32Array(T * H);
    for (let p = 0; p < T * H; p++) {
      const tok = Math.floor(p / H);
      headIndex[p] = p % H;
      rowIndex[p] = xh === 1 ? tok : tok * xh + (p % H);
    }
    const out = new Float32Array(T * H * n);
    this.addon.opGathered(f32Data(t), T * xh, rowIndex, headIndex, m.handle, out, this.activationBits);
    return ten(f32(out, [T, H, n]));
  }

  prepareRope(spec: RopeSpec): RopeTable {
    const r: NativeRope = { invFreq: Float32Array.from(spec.invFreq), scale: spec.scale, interleaved: spec.interleaved };
    return r as unknown as RopeTable;
  }

  rope(x: Tensor, table: RopeTable, at: number | readonly Segment[]): Tensor {
    const r = table as unknown as NativeRope;
    const t = nt(x);
    const [T, H, D] = t.shape as [number, number, number];
    if (t.shape.length !== 3 || D !== 2 * r.invFreq.length) throw new MlxkError(`rope over ${2 * r.invFreq.length} dims applied to a tensor [${t.shape}]`);
    const positions = typeof at === 'number' ? Int32Array.from({ length: T }, (_, i) => at + i) : tokenPositions(at, T);
    const out = new Float32Array(t.size);
    this.addon.opRope(f32Data(t), T, H, D, positions, r.invFreq, r.scale, r.interleaved, out);
    return ten(f32(out, t.shape));
  }

  attention(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
    const T = nt(q).shape[0]!;
    const S = nt(k).shape[0]!;
    if (S < T) throw new MlxkError(`attention: ${S} keys cannot cover ${T} queries`);
    return this.raggedAttention(q, [k], [v], [{ tokens: T, offset: S - T }], scale);
  }

  raggedAttention(q: Tensor, keys: readonly Tensor[], values: readonly Tensor[], segments: readonly Segment[], scale: number): Tensor {
    const qt = nt(q);
    const [N, Hq, D] = qt.shape as [number, number, number];
    checkSegments(segments, N, keys.length, values.length);
    const B = segments.length;
    const ks = keys.map((k) => rowsOf(nt(k)));
    const vs = values.map((v) => rowsOf(nt(v)));
    const [, Hkv, Dk] = ks[0]!.shape as [number, number, number];
    const Dv = vs[0]!.shape[2]!;
    if (qt.shape.length !== 3 || Hq % Hkv !== 0) throw new MlxkError(`attention: q [${qt.shape}] against keys [${ks[0]!.shape}]: query heads must be a multiple of key heads`);
    const tokens = new Int32Array(B);
    const counts = new Int32Array(B);
    const kGeom = new Float64Array(3 * B);
    const vGeom = new Float64Array(3 * B);
    for (let b = 0; b < B; b++) {
      const [kt, vt] = [ks[b]!, vs[b]!];
      if (kt.shape.length !== 3 || vt.shape.length !== 3 || kt.shape[1] !== Hkv || kt.shape[2] !== Dk || Dk !== D || vt.shape[0] !== kt.shape[0] || vt.shape[1] !== Hkv || vt.shape[2] !== Dv) {
        throw new MlxkError(`attention: q [${qt.shape}], k [${kt.shape}], v [${vt.shape}] do not fit together`);
      }
      tokens[b] = segments[b]!.tokens;
      counts[b] = kt.shape[0]!;
      if (counts[b]! < tokens[b]!) throw new MlxkError(`attention: ${counts[b]} keys cannot cover ${tokens[b]} queries`);
      kGeom.set([kt.offset, kt.strides[0]!, kt.strides[1]!], 3 * b);
      vGeom.set([vt.offset, vt.strides[0]!, vt.strides[1]!], 3 * b);
    }
    const out = new Float32Array(N * Hq * Dv);
    this.addon.opAttention(f32Data(qt), Hq, D, tokens, counts, ks.map((t) => t.storage.data as Float32Array), kGeom, vs.map((t) => t.storage.data as Float32Array), vGeom, Hkv, Dv, scale, out);
    return ten(f32(out, [N, Hq, Dv]));
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    const [g, u] = [nt(gate), nt(up)];
    if (g.shape.join() !== u.shape.join()) throw new MlxkError(`swiglu: gate [${g.shape}] and up [${u.shape}] differ`);
    const out = new Float32Array(g.size);
    this.addon.opSwiglu(f32Data(g), f32Data(u), out);
    return ten(f32(out, g.shape));
  }

  routeNoAuxTc(logits: Tensor, bias: Weight, o: NoAuxRouteOptions): Route {
    const l = nt(logits);
    const [tokens, experts] = l.shape as [number, number];
    const b = this.vector(bias, 'router bias');
    if (l.shape.length !== 2 || b.length !== experts) throw new MlxkError(`routeNoAuxTc: logits [${l.shape}] with a bias of ${b.length} experts`);
    const indices = new Int32Array(tokens * o.topK);
    const weights = new Float32Array(tokens * o.topK);
    this.addon.opRouteNoAuxTc(f32Data(l), tokens, experts, b, o.topK, o.nGroup, o.topkGroup, o.normTopkProb, o.routedScalingFactor, indices, weights);
    return { tokens, k: o.topK, indices, weights };
  }

  routeSoftmaxTopK(logits: Tensor, topK: number, norm: boolean): Route {
    const l = nt(logits);
    const [tokens, experts] = l.shape as [number, number];
    const indices = new Int32Array(tokens * topK);
    const weights = new Float32Array(tokens * topK);
    this.addon.opRouteSoftmaxTopK(f32Data(l), tokens, experts, topK, norm, indices, weights);
    return { tokens, k: topK, indices, weights };
  }

  moe(x: Tensor, route: Route, experts: ExpertWeights): Tensor {
    const t = nt(x);
    const [gate, up, down] = [this.matrix(experts.gate, 'moe gate'), this.matrix(experts.up, 'moe up'), this.matrix(experts.down, 'moe down')];
    if (t.shape.length !== 2 || t.shape[0] !== route.tokens || t.shape[1] !== gate.handle.k) throw new MlxkError(`moe: x [${t.shape}] for ${route.tokens} routed tokens and experts [${gate.shape}]`);
    const out = new Float32Array(t.size);
    if (route.tokens > 0) this.addon.opMoe(f32Data(t), route.tokens, route.indices, route.weights, route.k, gate.handle, up.handle, down.handle, out, this.activationBits);
    return ten(f32(out, t.shape));
  }

  gatherLinear(x: Tensor, w: Weight, rows: Int32Array, slices: Int32Array): Tensor {
    const m = this.matrix(w, 'gatherLinear');
    const t = nt(x);
    const { experts: E, n, k } = m.handle;
    const T = t.shape[0]!;
    if (t.shape.length !== 2 || t.shape[1] !== k || rows.length !== slices.length) throw new MlxkError(`gatherLinear: x [${t.shape}] with ${rows.length} rows and ${slices.length} slices against a stack [${m.shape}]`);
    for (let p = 0; p < rows.length; p++) if (!(rows[p]! >= 0 && rows[p]! < T && slices[p]! >= 0 && slices[p]! < E)) throw new MlxkError(`gatherLinear: pair ${p} (row ${rows[p]}, slice ${slices[p]}) outside x [${t.shape}] / stack [${m.shape}]`);
    const out = new Float32Array(rows.length * n);
    if (rows.length > 0) this.addon.opGathered(f32Data(t), T, rows, slices, m.handle, out, this.activationBits);
    return ten(f32(out, [rows.length, n]));
  }

  private matrix(w: Weight, what: string): Extract<NativeWeight, { kind: 'matrix' }> {
    const v = nw(w);
    if (v.kind !== 'matrix') throw new MlxkError(`${what}: expected a matrix weight, got a vector [${v.shape}]`);
    return v;
  }

  private vector(w: Weight, what: string): Float32Array {
    const v = nw(w);
    if (v.kind !== 'vector') throw new MlxkError(`${what}: expected a one-dimensional weight, got [${v.shape}]`);
    return v.data;
  }
}

/** A float32 host tensor whose last axis is contiguous (what the attention kernel reads with strides). */
function rowsOf(t: NativeTensor): HostTensor {
  if (t instanceof HostTensor && t.dtype === 'F32' && (t.strides[t.strides.length - 1] === 1 || t.shape[t.shape.length - 1] === 1)) return t;
  return t.dtype === 'F32' ? contiguous(t) : f32(toF32(t), t.shape);
}

/** Whether a weight of this backend is used in place from its memory-mapped file (tests, diagnostics). */
export function isMappedWeight(w: Weight): boolean {
  const v = nw(w);
  return v.kind === 'matrix' && v.mapped;
}

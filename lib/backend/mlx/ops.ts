// The ops interface on @frost-beta/mlx 0.0.7 (MLX ≈0.12). Float32 compute: its CPU
// matmul rejects other dtypes by aborting the process, so every weight and activation
// is float32 before a product. Graphs are lazy; `read` and `evaluate` run them.
import type { core } from '@frost-beta/mlx';
import type { DType } from '../../io/dtype.js';
import { CheckpointError, MlxkError } from '../../io/errors.js';
import { SafetensorsFile } from '../../io/safetensors.js';
import { type AffineParts, checkSegments, type ExpertWeights, type NoAuxRouteOptions, type Ops, type RopeSpec, type RopeTable, type Route, type Segment, type Tensor, tokenPositions, type Weight } from '../ops.js';
import { routeNoAuxTcHost, routeSoftmaxTopKHost } from '../route.js';
import { loadMlx } from './load.js';
import { asMlxExperts, gatherLinear, moeForward } from './moe.js';
import { reclaim } from './reclaim.js';
import type { CodesOrigin } from './repack.js';
import { affineWeight, denseWeight, dequantized, matmulT, type MlxWeight, takeRows } from './weights.js';

type Mx = typeof core;
type MxArray = core.array;

interface MlxRope {
  invFreq: MxArray;
  scale: number;
  interleaved: boolean;
  dims: number;
}

/** safetensors dtypes mx.load reads (MLX ≈0.12 has no float64 or fp8). */
const MLX_LOADABLE: ReadonlySet<DType> = new Set(['F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U32', 'U16', 'U8', 'BOOL']);

const arr = (t: Tensor) => t as unknown as MxArray;
const ten = (a: MxArray) => a as unknown as Tensor;
const wt = (w: Weight) => w as unknown as MlxWeight;
const asWeight = (w: MlxWeight) => w as unknown as Weight;

function axisOf(x: MxArray, axis: number): number {
  return axis < 0 ? x.ndim + axis : axis;
}

function flatten(v: unknown, out: number[]): void {
  if (Array.isArray(v)) for (const e of v) flatten(e, out);
  else out.push(typeof v === 'boolean' ? Number(v) : (v as number));
}

export class MlxOps implements Ops {
  readonly name = 'mlx';
  readonly mx: Mx;
  /** The file and name of each array loadSafetensors made (mx.load reads lazily, so an array never evaluated costs nothing). */
  private readonly origins = new WeakMap<MxArray, CodesOrigin>();

  constructor() {
    this.mx = loadMlx().core;
  }

  ids(ids: readonly number[]): Tensor {
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= 2 ** 24) throw new MlxkError(`token id ${id} is not an integer in 0..2^24`);
    return ten(this.mx.array([...ids], this.mx.int32));
  }

  constant(values: ArrayLike<number>, shape: number[]): Tensor {
    return ten(this.mx.array(Array.from(values), this.mx.float32).reshape(shape));
  }

  read(x: Tensor): Float32Array {
    const out: number[] = [];
    flatten(arr(x).astype(this.mx.float32).tolist(), out);
    return Float32Array.from(out);
  }

  shape(x: Tensor): number[] {
    return arr(x).shape;
  }

  evaluate(...xs: (Tensor | Weight)[]): void {
    const arrays: MxArray[] = [];
    for (const x of xs) {
      const w = x as unknown as MlxWeight;
      if (w && typeof w === 'object' && 'kind' in w) arrays.push(...(w.kind === 'dense' ? [w.w] : [w.w, w.scales, w.biases]));
      else arrays.push(arr(x as Tensor));
    }
    if (arrays.length > 0) this.mx.eval(...arrays);
  }

  reclaim(opts: { full?: boolean } = {}): Promise<void> {
    return reclaim(opts.full ?? false);
  }

  loadSafetensors(path: string): Map<string, Tensor> {
    const header = SafetensorsFile.open(path);
    header.close();
    for (const t of header.tensors.values()) {
      if (!MLX_LOADABLE.has(t.dtype)) {
        throw new CheckpointError(path, `tensor "${t.name}" is ${t.dtype}, which MLX cannot load; weights must be F32, F16 or BF16 (or MLX-quantized U32)`, 'FP8, INT4 and NVFP4 checkpoints load after conversion: `mlxk quantize SRC DST`');
      }
    }
    const record = this.mx.load(path) as unknown as Record<string, MxArray>;
    for (const [name, a] of Object.entries(record)) this.origins.set(a, { path, name });
    return new Map(Object.entries(record).map(([k, v]) => [k, ten(v)]));
  }

  dense(t: Tensor): Weight {
    return asWeight(denseWeight(this.mx, arr(t)));
  }

  affine(p: AffineParts): Weight {
    return asWeight(affineWeight(this.mx, arr(p.weight), arr(p.scales), arr(p.biases), p.bits, p.groupSize, p.shape, this.origins.get(arr(p.weight))));
  }

  weightShape(w: Weight): number[] {
    return wt(w).shape;
  }

  reshape(x: Tensor, shape: number[]): Tensor {
    return ten(arr(x).reshape(shape));
  }

  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
    const a = arr(x);
    const idx: core.ArrayIndex[] = Array.from({ length: axisOf(a, axis) }, () => this.mx.Slice());
    return ten(a.index(...idx, this.mx.Slice(start, end)));
  }

  concat(xs: Tensor[], axis: number): Tensor {
    return ten(this.mx.concatenate(xs.map(arr), axis));
  }

  stack(xs: Tensor[], axis: number): Tensor {
    return ten(this.mx.stack(xs.map(arr), axis));
  }

  transpose(x: Tensor, axes: number[]): Tensor {
    return ten(this.mx.transpose(arr(x), axes));
  }

  broadcast(x: Tensor, shape: number[]): Tensor {
    return ten(this.mx.broadcastTo(arr(x), shape));
  }

  add(a: Tensor, b: Tensor): Tensor {
    return ten(this.mx.add(arr(a), arr(b)));
  }

  zeros(shape: number[]): Tensor {
    return ten(this.mx.zeros(shape, this.mx.float32));
  }

  writeRows(buffer: Tensor, rows: Tensor, at: number): Tensor {
    const b = arr(buffer);
    const n = arr(rows).shape[0]!;
    // indexPut_ turns the handle into a slice update of its array, done in place when
    // no other handle shares the buffer (see reclaim.ts).
    b.indexPut_(this.mx.Slice(at, at + n), arr(rows));
    return ten(b);
  }

  embedding(table: Weight, ids: Tensor): Tensor {
    return ten(takeRows(this.mx, wt(table), arr(ids)));
  }

  rmsNorm(x: Tensor, weight: Weight, eps: number): Tensor {
    return ten(this.mx.fast.rmsNorm(arr(x), dequantized(this.mx, wt(weight)), eps));
  }

  linear(x: Tensor, w: Weight, bias?: Weight): Tensor {
    const y = matmulT(this.mx, arr(x), wt(w));
    return ten(bias ? this.mx.add(y, dequantized(this.mx, wt(bias))) : y);
  }

  perHeadLinear(x: Tensor, w: Weight, transpose: boolean): Tensor {
    const mx = this.mx;
    const W = dequantized(mx, wt(w));
    const xh = mx.transpose(arr(x), [1, 0, 2]);
    const y = mx.matmul(xh, transpose ? mx.transpose(W, [0, 2, 1]) : W);
    return ten(mx.transpose(y, [1, 0, 2]));
  }

  prepareRope(spec: RopeSpec): RopeTable {
    const rope: MlxRope = { invFreq: this.mx.array(spec.invFreq, this.mx.float32), scale: spec.scale, interleaved: spec.interleaved, dims: 2 * spec.invFreq.length };
    return rope as unknown as RopeTable;
  }

  rope(x: Tensor, table: RopeTable, at: number | readonly Segment[]): Tensor {
    const mx = this.mx;
    const r = table as unknown as MlxRope;
    const a = arr(x);
    const [T, H, D] = a.shape as [number, number, number];
    if (D !== r.dims) throw new Error(`rope over ${r.dims} dims applied to a tensor of ${D}`);
    const positions = typeof at === 'number' ? mx.arange(at, at + T, 1, mx.float32) : mx.array(Array.from(tokenPositions(at, T)), mx.float32);
    const angles = mx.multiply(positions.reshape([T, 1]), r.invFreq.reshape([1, D / 2]));
    const cos = mx.multiply(mx.cos(angles), r.scale).reshape([T, 1, D / 2]);
    const sin = mx.multiply(mx.sin(angles), r.scale).reshape([T, 1, D / 2]);
    let x1: MxArray;
    let x2: MxArray;
    if (r.interleaved) {
      const [even, odd] = mx.split(a.reshape([T, H, D / 2, 2]), 2, -1) as [MxArray, MxArray];
      x1 = even.reshape([T, H, D / 2]);
      x2 = odd.reshape([T, H, D / 2]);
    } else {
      [x1, x2] = mx.split(a, 2, -1) as [MxArray, MxArray];
    }
    const o1 = mx.subtract(mx.multiply(x1, cos), mx.multiply(x2, sin));
    const o2 = mx.add(mx.multiply(x2, cos), mx.multiply(x1, sin));
    return ten(r.interleaved ? mx.stack([o1, o2], -1).reshape([T, H, D]) : mx.concatenate([o1, o2], -1));
  }

  attention(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
    const mx = this.mx;
    const [T, Hq, D] = arr(q).shape as [number, number, number];
    const [S, Hkv] = arr(k).shape as [number, number];
    const Dv = arr(v).shape[2]!;
    if (Hq % Hkv !== 0) throw new Error(`attention: ${Hq} query heads are not a multiple of ${Hkv} key heads`);
    if (S < T) throw new Error(`attention: ${S} keys cannot cover ${T} queries`);
    const G = Hq / Hkv;
    const qh = mx.transpose(mx.multiply(arr(q), scale).reshape([T, Hkv, G, D]), [1, 2, 0, 3]);
    const kh = mx.transpose(arr(k), [1, 2, 0]).reshape([Hkv, 1, D, S]);
    const vh = mx.transpose(arr(v), [1, 0, 2]).reshape([Hkv, 1, S, Dv]);
    let scores = mx.matmul(qh, kh);
    if (T > 1) {
      const future = mx.greater(mx.arange(0, S, 1, mx.int32).reshape([1, S]), mx.arange(S - T, S, 1, mx.int32).reshape([T, 1]));
      scores = mx.add(scores, mx.where(future, -Infinity, 0));
    }
    const out = mx.matmul(mx.softmax(scores, -1, true), vh);
    return ten(mx.transpose(out, [2, 0, 1, 3]).reshape([T, Hq, Dv]));
  }

  raggedAttention(q: Tensor, keys: readonly Tensor[], values: readonly Tensor[], segments: readonly Segment[], scale: number): Tensor {
    checkSegments(segments, arr(q).shape[0]!, keys.length, values.length);
    let start = 0;
    const outs = segments.map((s, b) => {
      const o = this.attention(this.slice(q, 0, start, start + s.tokens), keys[b]!, values[b]!, scale);
      start += s.tokens;
      return o;
    });
    return outs.length === 1 ? outs[0]! : this.concat(outs, 0);
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    const mx = this.mx;
    const g = arr(gate);
    return ten(mx.multiply(mx.multiply(g, mx.sigmoid(g)), arr(up)));
  }

  routeNoAuxTc(logits: Tensor, bias: Weight, opts: NoAuxRouteOptions): Route {
    const tokens = arr(logits).shape[0]!;
    return routeNoAuxTcHost(this.read(logits), tokens, this.read(ten(dequantized(this.mx, wt(bias)))), opts);
  }

  routeSoftmaxTopK(logits: Tensor, topK: number, norm: boolean): Route {
    const [tokens, experts] = arr(logits).shape as [number, number];
    return routeSoftmaxTopKHost(this.read(logits), tokens, experts, topK, norm);
  }

  moe(x: Tensor, route: Route, experts: ExpertWeights): Tensor {
    return ten(moeForward(this.mx, arr(x), route, asMlxExperts(experts)));
  }

  gatherLinear(x: Tensor, w: Weight, rows: Int32Array, slices: Int32Array): Tensor {
    return ten(gatherLinear(this.mx, arr(x), wt(w), rows, slices));
  }
}

// Ops.mlaLayers on the native backend: DeepSeek-V3 decoder layers over one batched step
// (decoding sequences, prompts, or both) in a single addon call (native/src/mla_layers.cc),
// instead of ~35 calls per layer with their JS views, copies and allocations. Each layer is
// prepared once into an addon MlaLayer (weights resolved, shapes checked) and reused while the
// model hands over the same weights and shapes.
import { MlxkError } from '../../io/errors.js';
import type { MlaLayerWeights, Segment, Tensor, Weight } from '../ops.js';
import type { ActivationBits, AddonMlaLayer, AddonWeight, ModelOpsAddon } from './addon.js';
import type { NativeRope } from './ops.js';
import { writableRows } from './plumbing.js';
import { f32, f32Data, type HostTensor, type NativeTensor } from './tensor.js';
import type { NativeWeight } from './weights.js';

interface Prepared {
  /** The descriptor last seen for this layer: the same object is the same layer without comparing keys. */
  from: MlaLayerWeights;
  /** What the layer was made from (layerKey), to tell a changed layer from the same one. */
  key: unknown[];
  native: AddonMlaLayer;
}

const nt = (t: Tensor) => t as unknown as NativeTensor;

/** Every value the native layer is built from, in a fixed order. */
function layerKey(l: MlaLayerWeights): unknown[] {
  const { mlp, moe } = l;
  return [
    l.hidden, l.heads, l.nope, l.rope, l.rank, l.vDim, l.eps, l.mlaEps, l.scale, l.ropeTable, l.inputNorm, l.q, l.qA, l.qANorm, l.qB, l.kvA, l.kvANorm,
    l.embedQ, l.unembedOut, l.oProj, l.postNorm, mlp?.gate, mlp?.up, mlp?.down, moe?.router, moe?.bias, moe?.experts.gate, moe?.experts.up, moe?.experts.down,
    moe?.route.topK, moe?.route.nGroup, moe?.route.topkGroup, moe?.route.normTopkProb, moe?.route.routedScalingFactor,
  ];
}

const sameKey = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((v, i) => v === b[i]);

export class MlaLayerRunner {
  /** Keyed by the layer's input norm weight: one entry per layer of each model in use. */
  private readonly prepared = new WeakMap<Weight, Prepared>();
  /**
   * Each step's token counts then offsets, reused: a fresh Int32Array of a few values lives in V8's
   * heap, and N-API copies it out to a buffer of its own on every call.
   */
  private positions = new Int32Array(64);

  constructor(private readonly addon: ModelOpsAddon, private readonly activationBits: ActivationBits) {}

  run(x: Tensor, layers: readonly MlaLayerWeights[], caches: readonly (readonly Tensor[])[], segments: readonly Segment[]): { out: Tensor; caches: Tensor[][] } {
    const t = nt(x);
    const B = segments.length;
    const N = segments.reduce((a, s) => a + s.tokens, 0);
    const hidden = layers[0]?.hidden;
    if (hidden === undefined || B === 0 || t.shape.length !== 2 || t.shape[0] !== N || t.shape[1] !== hidden) {
      throw new MlxkError(`mlaLayers: x [${t.shape}] for ${B} sequences of ${N} tokens over ${layers.length} layers of width ${hidden}`);
    }
    if (caches.length !== layers.length || caches.some((c) => c.length !== B)) throw new MlxkError(`mlaLayers: caches for ${caches.length} layers × ${caches.map((c) => c.length).join('/')} sequences; expected ${layers.length} × ${B}`);
    const written: HostTensor[][] = caches.map((perSeq, l) =>
      perSeq.map((buf, b) => {
        const row = layers[l]!.rank + layers[l]!.rope;
        const { tokens, offset } = segments[b]!;
        const s = nt(buf).shape;
        if (s.length !== 3 || s[1] !== 1 || s[2] !== row || !(Number.isInteger(offset) && Number.isInteger(tokens) && offset >= 0 && tokens >= 1 && offset + tokens <= s[0]!)) {
          throw new MlxkError(`mlaLayers: cache buffer [${s}] of layer ${l} cannot take ${tokens} rows [1, ${row}] at ${offset}`);
        }
        const w = writableRows(nt(buf), offset, tokens);
        if (w.dtype !== 'F32' || !w.contiguous) throw new MlxkError(`mlaLayers: cache buffer of layer ${l} is not a contiguous float32 array`);
        return w;
      }),
    );
    const arrays = written.flatMap((perSeq) => perSeq.map((w) => (w.storage.data as Float32Array).subarray(w.offset, w.offset + w.size)));
    const out = new Float32Array(N * hidden);
    if (this.positions.length < 2 * B) this.positions = new Int32Array(2 * B);
    const tokens = this.positions.subarray(0, B);
    const offsets = this.positions.subarray(B, 2 * B);
    segments.forEach((s, b) => ((tokens[b] = s.tokens), (offsets[b] = s.offset)));
    this.addon.opMlaLayers(layers.map((l) => this.native(l)), f32Data(t), tokens, offsets, arrays, out, this.activationBits);
    return { out: f32(out, [N, hidden]) as unknown as Tensor, caches: written as unknown as Tensor[][] };
  }

  private native(l: MlaLayerWeights): AddonMlaLayer {
    const had = this.prepared.get(l.inputNorm);
    if (had?.from === l) return had.native;
    const key = layerKey(l);
    if (had && sameKey(had.key, key)) {
      had.from = l;
      return had.native;
    }
    const m = (w: Weight, what: string): AddonWeight => {
      const n = w as unknown as NativeWeight;
      if (n.kind !== 'matrix') throw new MlxkError(`mlaLayers: ${what} is a vector [${n.shape}]; expected a matrix`);
      return n.handle;
    };
    const v = (w: Weight, what: string): Float32Array => {
      const n = w as unknown as NativeWeight;
      if (n.kind !== 'vector') throw new MlxkError(`mlaLayers: ${what} is a matrix [${n.shape}]; expected a vector`);
      return n.data;
    };
    const rope = l.ropeTable as unknown as NativeRope;
    const native = new this.addon.MlaLayer({
      hidden: l.hidden, heads: l.heads, nope: l.nope, rope: l.rope, rank: l.rank, vDim: l.vDim, eps: l.eps, mlaEps: l.mlaEps, scale: l.scale,
      invFreq: rope.invFreq, ropeScale: rope.scale, interleaved: rope.interleaved,
      inputNorm: v(l.inputNorm, 'inputNorm'), kvANorm: v(l.kvANorm, 'kvANorm'), postNorm: v(l.postNorm, 'postNorm'),
      ...(l.q ? { q: m(l.q, 'q') } : { qA: m(l.qA!, 'qA'), qANorm: v(l.qANorm!, 'qANorm'), qB: m(l.qB!, 'qB') }),
      kvA: m(l.kvA, 'kvA'), embedQ: m(l.embedQ, 'embedQ'), unembedOut: m(l.unembedOut, 'unembedOut'), oProj: m(l.oProj, 'oProj'),
      ...(l.mlp && { mlp: { gate: m(l.mlp.gate, 'mlp gate'), up: m(l.mlp.up, 'mlp up'), down: m(l.mlp.down, 'mlp down') } }),
      ...(l.moe && {
        moe: {
          router: m(l.moe.router, 'router'), bias: v(l.moe.bias, 'router bias'),
          gate: m(l.moe.experts.gate, 'experts gate'), up: m(l.moe.experts.up, 'experts up'), down: m(l.moe.experts.down, 'experts down'),
          ...l.moe.route,
        },
      }),
    });
    this.prepared.set(l.inputNorm, { from: l, key, native });
    return native;
  }
}

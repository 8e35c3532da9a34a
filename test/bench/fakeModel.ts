// A stand-in CausalLM for bench tests: a "next token is t+1" bigram model with a known
// distribution, over a minimal host-array Ops, that also advances a fake clock by a
// set cost per token — so throughput arithmetic and perplexity bookkeeping can be
// checked against values worked out by hand.
import type { Ops, Tensor } from '../../lib/backend/ops.js';
import { KvCache } from '../../lib/engine/kvCache.js';
import type { CausalLM, ForwardOptions, ModelInfo } from '../../lib/models/model.js';

interface Host {
  shape: number[];
  data: Float32Array;
}

const host = (t: Tensor) => t as unknown as Host;
const tensor = (shape: number[], data: Float32Array) => ({ shape, data }) as unknown as Tensor;

/** Just what Sequence, KvCache and the bench code call. */
export function fakeOps(): Ops {
  const rowSize = (shape: number[]) => shape.slice(1).reduce((a, b) => a * b, 1);
  const ops = {
    name: 'fake',
    shape: (t: Tensor) => host(t).shape,
    read: (t: Tensor) => host(t).data,
    evaluate: () => {},
    reclaim: async () => {},
    zeros: (shape: number[]) => tensor(shape, new Float32Array(shape.reduce((a, b) => a * b, 1))),
    slice: (t: Tensor, axis: number, start: number, end: number) => {
      if (axis !== 0) throw new Error('fake ops slice axis 0 only');
      const h = host(t);
      const r = rowSize(h.shape);
      return tensor([end - start, ...h.shape.slice(1)], h.data.slice(start * r, end * r));
    },
    writeRows: (buffer: Tensor, rows: Tensor, at: number) => {
      const b = host(buffer);
      b.data.set(host(rows).data, at * rowSize(b.shape));
      return buffer;
    },
  };
  return ops as unknown as Ops;
}

export interface FakeTime {
  now: number;
}

export interface FakeModelOptions {
  vocab: number;
  maxContext: number;
  /** Logit of token t+shift after token t; every other logit is 0. */
  strength: number;
  /** Default 1. */
  shift?: number;
  /** Fake seconds per prompt token and per decode step, times `scale()` at the time of the call. */
  prefillCost?: number;
  decodeCost?: number;
  time?: FakeTime;
  scale?: () => number;
}

export function fakeModel(o: FakeModelOptions): CausalLM {
  const ops = fakeOps();
  const info: ModelInfo = { arch: 'fake', modelType: 'fake', vocabSize: o.vocab, numLayers: 1, maxContext: o.maxContext };
  return {
    info,
    ops,
    newCache: () => new KvCache(ops, 'kv', 1, 1),
    forward(ids: readonly number[], cache: KvCache, opts: ForwardOptions = {}): Tensor {
      if (o.time) {
        const per = ids.length === 1 ? (o.decodeCost ?? 0) : (o.prefillCost ?? 0) * ids.length;
        o.time.now += per * (o.scale?.() ?? 1);
      }
      cache.update(0, [tensor([ids.length, 1], Float32Array.from(ids))]);
      const rows = opts.allLogits ? ids : ids.slice(-1);
      const data = new Float32Array(rows.length * o.vocab);
      rows.forEach((t, r) => (data[r * o.vocab + ((t + (o.shift ?? 1)) % o.vocab)] = o.strength));
      return tensor([rows.length, o.vocab], data);
    },
    forwardBatch(items, opts: ForwardOptions = {}): Tensor {
      const parts = items.map((i) => ops.read(this.forward(i.ids, i.cache, opts)));
      const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
      return tensor([data.length / o.vocab, o.vocab], data);
    },
  };
}

/** −log p(t+shift | t) of the fake model: the favoured token has logit s, the other V−1 have 0. */
export function favouredNll(strength: number, vocab: number): number {
  return Math.log(Math.exp(strength) + vocab - 1) - strength;
}

/** −log p(u | t) for any other token u. */
export function otherNll(strength: number, vocab: number): number {
  return Math.log(Math.exp(strength) + vocab - 1);
}

// What an architecture's forward pass offers the engine: a causal language model
// over the ops interface, stepping through tokens with an explicit cache.
import type { Ops, Segment, Tensor, Weight } from '../backend/ops.js';
import type { KvCache } from '../engine/kvCache.js';

export interface ModelInfo {
  arch: string;
  modelType: string;
  vocabSize: number;
  numLayers: number;
  /** Longest context the config declares (max_position_embeddings). */
  maxContext: number;
}

export interface ForwardOptions {
  /** Logits for every position ([T, vocab]) instead of only the last ([1, vocab]). */
  allLogits?: boolean;
  /**
   * The final normed hidden states of every position ([T, hidden]) instead of logits: the head's
   * inputs for calibration statistics, without a tokens × vocab product.
   */
  hidden?: boolean;
}

/** One sequence of a batched step: its new tokens and its cache. */
export interface BatchItem {
  ids: readonly number[];
  cache: KvCache;
}

export interface CausalLM {
  readonly info: ModelInfo;
  readonly ops: Ops;
  newCache(): KvCache;
  /**
   * Runs `ids` at positions cache.length … cache.length + T − 1, appending them to the
   * cache, and returns float32 logits (lazy on lazy backends; read them with ops.read).
   */
  forward(ids: readonly number[], cache: KvCache, opts?: ForwardOptions): Tensor;
  /**
   * Several sequences in one step (forward is this with one item): their tokens run together,
   * each at its own positions over its own cache, so every weight is read once per step. Returns
   * each sequence's last-token logits [B, vocab] (allLogits: every row, [Σ T, vocab]). The caches
   * must be distinct.
   */
  forwardBatch(items: readonly BatchItem[], opts?: ForwardOptions): Tensor;
}

/** Each item's rows and positions in a batched step (and a check that the caches are distinct). */
export function segmentsOf(items: readonly BatchItem[]): Segment[] {
  if (items.length === 0) throw new Error('a batched step needs at least one sequence');
  if (new Set(items.map((i) => i.cache)).size !== items.length) throw new Error('a batched step cannot hold one cache twice');
  return items.map((i) => {
    if (i.ids.length === 0) throw new Error('a sequence of a batched step has no tokens');
    return { tokens: i.ids.length, offset: i.cache.length };
  });
}

/** Appends each segment's rows of `rows` (one tensor per stream) to its own cache; returns each cache's full view. */
export function updateCaches(ops: Ops, layer: number, caches: readonly KvCache[], segments: readonly Segment[], rows: Tensor[]): Tensor[][] {
  if (caches.length === 1) return [caches[0]!.update(layer, rows)];
  let start = 0;
  return caches.map((c, b) => {
    const n = segments[b]!.tokens;
    const mine = rows.map((r) => ops.slice(r, 0, start, start + n));
    start += n;
    return c.update(layer, mine);
  });
}

/** The loaded weights of one model, by MLX tensor name. */
export class ModelWeights {
  constructor(protected readonly map: Map<string, Weight>) {}

  get(name: string): Weight {
    const w = this.map.get(name);
    if (!w) throw new Error(`weight "${name}" was not loaded (the tensor table and the forward pass disagree)`);
    return w;
  }

  opt(name: string): Weight | undefined {
    return this.map.get(name);
  }

  get size(): number {
    return this.map.size;
  }

  /** Whether every layer's weights are held at once (streamed weights hold one layer at a time). */
  get holdsAllLayers(): boolean {
    return true;
  }

  /** The weights held now (all of them unless streamed: lib/models/streamedWeights.ts). */
  all(): Weight[] {
    return [...this.map.values()];
  }

  /** Name → weight, in load order (the weights held now). */
  entries(): IterableIterator<[string, Weight]> {
    return this.map.entries();
  }

  /** The same weights with some replaced (lib/calib's one-module-at-a-time sensitivity runs). */
  withReplaced(replace: ReadonlyMap<string, Weight>): ModelWeights {
    return new ModelWeights(new Map([...this.map, ...replace]));
  }
}

/** Gate/up/down SwiGLU MLP under `prefix` (dense or shared expert). */
export function swigluMlp(ops: Ops, w: ModelWeights, prefix: string, x: Tensor): Tensor {
  const bias = (p: string) => w.opt(`${prefix}.${p}.bias`);
  const gate = ops.linear(x, w.get(`${prefix}.gate_proj.weight`), bias('gate_proj'));
  const up = ops.linear(x, w.get(`${prefix}.up_proj.weight`), bias('up_proj'));
  return ops.linear(ops.swiglu(gate, up), w.get(`${prefix}.down_proj.weight`), bias('down_proj'));
}

/** Final norm and head; only each sequence's last position unless all logits (or the hidden states) are asked for. */
export function lmHead(ops: Ops, w: ModelWeights, prefix: string, x: Tensor, eps: number, opts: ForwardOptions, segments: readonly Segment[]): Tensor {
  if (opts.hidden) return ops.rmsNorm(x, w.get(`${prefix}model.norm.weight`), eps);
  let last = x;
  // Every row is already a last row when all sequences step one token (decode).
  if (!(opts.allLogits ?? false) && segments.some((s) => s.tokens > 1)) {
    let end = 0;
    const lastRows = segments.map((s) => {
      end += s.tokens;
      return ops.slice(x, 0, end - 1, end);
    });
    last = lastRows.length === 1 ? lastRows[0]! : ops.concat(lastRows, 0);
  }
  const h = ops.rmsNorm(last, w.get(`${prefix}model.norm.weight`), eps);
  return ops.linear(h, w.opt(`${prefix}lm_head.weight`) ?? w.get(`${prefix}model.embed_tokens.weight`));
}

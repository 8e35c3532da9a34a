// Per-request attention caches. A cache holds, per layer, one or more "streams" of
// per-token rows along axis 0: a standard cache keeps keys [S, Hkv, D] and values
// [S, Hkv, Dv]; the MLA latent cache keeps one stream [S, 1, kv_lora_rank +
// qk_rope_head_dim] (normalized latent, then the roped key) — DeepSeek's absorbed
// attention reads both keys and values from it.
//
// Buffers grow in blocks of BLOCK tokens and new rows are written in place
// (ops.writeRows), as mlx-lm's KVCache does: appending by concatenation would copy the
// whole cache every step (at 128K tokens of Kimi, 9 GB per token).
import type { KeptTensors, Ops, Tensor } from '../backend/ops.js';

export type CacheKind = 'kv' | 'mla';

/** Tokens of room added when a buffer is full. */
export const BLOCK = 256;

export class KvCache {
  private buffers: (Tensor[] | null)[];
  private tokens = 0;
  /** The memory of the buffers after compact() on a backend with ops.keep. */
  private kept: KeptTensors | null = null;

  constructor(
    private readonly ops: Ops,
    readonly kind: CacheKind,
    readonly numLayers: number,
    /** Elements stored per token per layer (all streams), for memory accounting. */
    readonly elementsPerToken: number,
  ) {
    this.buffers = new Array<Tensor[] | null>(numLayers).fill(null);
  }

  /** Tokens held (the position of the next token). */
  get length(): number {
    return this.tokens;
  }

  /**
   * Appends this step's rows for `layer` (one tensor per stream) and returns views of all
   * rows so far. Layers are updated in order, once per step; the last one advances length.
   */
  update(layer: number, rows: Tensor[]): Tensor[] {
    const { ops } = this;
    const n = ops.shape(rows[0]!)[0]!;
    const at = this.tokens;
    const bufs = this.reserve(layer, n, rows.map((r) => ops.shape(r).slice(1))).map((b, i) => ops.writeRows(b, rows[i]!, at));
    this.store(layer, bufs, n);
    return bufs.map((b) => ops.slice(b, 0, 0, at + n));
  }

  /**
   * This layer's buffers (one per stream, each row of shape rowShapes[i]) with room for n more
   * rows, grown by whole blocks: for a backend op that writes the rows itself (Ops.mlaLayers),
   * which consumes them like writeRows; hand the written ones back with `store`.
   */
  reserve(layer: number, n: number, rowShapes: readonly number[][]): Tensor[] {
    const { ops } = this;
    const end = this.tokens + n;
    const bufs = this.buffers[layer];
    if (bufs && ops.shape(bufs[0]!)[0]! >= end) return bufs;
    const capacity = Math.ceil(end / BLOCK) * BLOCK;
    return rowShapes.map((shape, i) => {
      const fresh = ops.zeros([capacity, ...shape]);
      return bufs && this.tokens > 0 ? ops.writeRows(fresh, ops.slice(bufs[i]!, 0, 0, this.tokens), 0) : fresh;
    });
  }

  /** Takes back this layer's buffers with rows length…length+n−1 written; the last layer advances length. */
  store(layer: number, bufs: Tensor[], n: number): void {
    this.buffers[layer] = bufs;
    if (layer === this.numLayers - 1) this.tokens += n;
  }

  /** Keeps the first n tokens; later rows are overwritten by the next updates. */
  trim(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.tokens) throw new Error(`cannot trim a cache of ${this.tokens} tokens to ${n}`);
    this.tokens = n;
  }

  /**
   * An independent cache with the first n tokens (for reusing a prefix). A kept cache is copied
   * into ordinary buffers with room to grow, so it can be released while the copy runs on.
   */
  copy(n = this.tokens): KvCache {
    if (!Number.isInteger(n) || n < 0 || n > this.tokens) throw new Error(`cannot copy ${n} tokens of a cache of ${this.tokens}`);
    const { ops } = this;
    const c = new KvCache(ops, this.kind, this.numLayers, this.elementsPerToken);
    const capacity = Math.ceil((n + 1) / BLOCK) * BLOCK;
    const rows = (t: Tensor) => ops.slice(t, 0, 0, n);
    c.buffers = this.buffers.map((l) => (l && n > 0 ? l.map((t) => (this.kept ? ops.writeRows(ops.zeros([capacity, ...ops.shape(t).slice(1)]), rows(t), 0) : rows(t))) : null));
    c.tokens = n;
    return c;
  }

  /**
   * Buffers of exactly `length` tokens, copied out of the larger ones: for a cache that is only
   * kept from now on (the prompt cache), so the slack of its growth blocks is not held with it.
   * Where the backend has memory of its own (ops.keep) they go there, and release() frees them.
   */
  compact(): void {
    const { ops } = this;
    if (this.kept || this.tokens === 0) return;
    const live = this.buffers.map((l) => l && l.map((t) => ops.slice(t, 0, 0, this.tokens)));
    if (ops.keep) {
      this.kept = ops.keep(live.flatMap((l) => l ?? []));
      let i = 0;
      this.buffers = live.map((l) => l && l.map(() => this.kept!.tensors[i++]!));
      return;
    }
    if (this.heldBytes <= this.bytes * 1.02) return;
    this.buffers = live.map((l) => l && l.map((t) => ops.writeRows(ops.zeros([this.tokens, ...ops.shape(t).slice(1)]), t, 0)));
  }

  /** Frees a kept cache's memory now (it was evicted); the cache is empty afterwards. */
  release(): void {
    this.kept?.release();
    this.kept = null;
    this.buffers.fill(null);
    this.tokens = 0;
  }

  /** The buffers, to evaluate with a step's logits so lazy graphs stay short. */
  tensors(): Tensor[] {
    return this.buffers.flatMap((l) => l ?? []);
  }

  /** float32 bytes of the tokens held. */
  get bytes(): number {
    return this.tokens * this.numLayers * this.elementsPerToken * 4;
  }

  /**
   * Memory this cache keeps alive: its buffers are allocated in BLOCK-token steps and a fork's
   * views hold the whole storage they were cut from, so this exceeds `bytes` (by 16 % on
   * tiny-kimi's ~900-token prompts). The prompt cache budgets with it.
   */
  get heldBytes(): number {
    if (this.kept) return this.kept.bytes;
    const live = this.buffers.flatMap((l) => l ?? []);
    if (this.ops.heldBytes) return this.ops.heldBytes(live);
    return live.reduce((a, t) => a + this.ops.shape(t).reduce((x, y) => x * y, 1) * 4, 0);
  }
}

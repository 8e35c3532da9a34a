// Per-request attention caches. A cache holds, per layer, one or more "streams" of
// per-token rows appended along axis 0: a standard cache keeps keys [S, Hkv, D] and
// values [S, Hkv, Dv]; the MLA latent cache keeps one stream [S, 1, kv_lora_rank +
// qk_rope_head_dim] (normalized latent, then the roped key) — DeepSeek's absorbed
// attention reads both keys and values from it. Tensors are immutable, so copy() is
// cheap (prefix reuse) and trim() only drops rows.
import type { Ops, Tensor } from '../backend/ops.js';

export type CacheKind = 'kv' | 'mla';

export class KvCache {
  private layers: (Tensor[] | null)[];
  private tokens = 0;

  constructor(
    private readonly ops: Ops,
    readonly kind: CacheKind,
    readonly numLayers: number,
    /** Elements stored per token per layer (all streams), for memory accounting. */
    readonly elementsPerToken: number,
  ) {
    this.layers = new Array<Tensor[] | null>(numLayers).fill(null);
  }

  /** Tokens held (the position of the next token). */
  get length(): number {
    return this.tokens;
  }

  /**
   * Appends this step's rows for `layer` and returns all rows so far. Layer 0's append
   * fixes the new length; the other layers must append as many rows.
   */
  update(layer: number, rows: Tensor[]): Tensor[] {
    const added = this.ops.shape(rows[0]!)[0]!;
    const prev = this.layers[layer];
    const before = prev ? this.ops.shape(prev[0]!)[0]! : 0;
    if (before !== this.tokens) throw new Error(`cache layer ${layer} holds ${before} tokens, expected ${this.tokens} (layers must be updated in order, once per step)`);
    const next = prev ? rows.map((r, i) => this.ops.concat([prev[i]!, r], 0)) : rows;
    this.layers[layer] = next;
    if (layer === this.numLayers - 1) this.tokens += added;
    return next;
  }

  /** Keeps the first n tokens. */
  trim(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.tokens) throw new Error(`cannot trim a cache of ${this.tokens} tokens to ${n}`);
    if (n === this.tokens) return;
    this.layers = this.layers.map((l) => (l && n > 0 ? l.map((t) => this.ops.slice(t, 0, 0, n)) : null));
    this.tokens = n;
  }

  copy(): KvCache {
    const c = new KvCache(this.ops, this.kind, this.numLayers, this.elementsPerToken);
    c.layers = this.layers.map((l) => (l ? [...l] : null));
    c.tokens = this.tokens;
    return c;
  }

  /** Every tensor held, to evaluate with a step's logits so lazy graphs stay short. */
  tensors(): Tensor[] {
    return this.layers.flatMap((l) => l ?? []);
  }

  /** float32 bytes held. */
  get bytes(): number {
    return this.tokens * this.numLayers * this.elementsPerToken * 4;
  }
}

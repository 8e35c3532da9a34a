// Prefix reuse across requests. Finished sequences (prompt and generated tokens, with their
// attention caches) are kept per model; a new request starts from a copy of the kept sequence
// that shares the longest prefix with its prompt, trimmed to that prefix, so an agent's next
// turn runs only its new tokens. Works for every cache kind the engine has (standard K/V and the
// MLA latent cache): all of them fork and trim. Byte-capped; least recently used entries go first.
import type { Sequence } from './sequence.js';

export interface PromptCacheHit {
  /** A private sequence holding the reused prefix; the caller runs the rest of the prompt on it. */
  sequence: Sequence;
  /** Prompt tokens the sequence already holds. */
  cachedTokens: number;
}

export interface PromptCacheStats {
  entries: number;
  bytes: number;
  capBytes: number;
  hits: number;
  misses: number;
  /** Prompt tokens served from the cache instead of being computed. */
  reusedTokens: number;
  evictions: number;
}

interface Entry {
  model: string;
  seq: Sequence;
  bytes: number;
  used: number;
}

export class PromptCache {
  private entries: Entry[] = [];
  private clock = 0;
  private readonly counts = { hits: 0, misses: 0, reusedTokens: 0, evictions: 0 };

  constructor(readonly capBytes: number) {}

  get bytes(): number {
    return this.entries.reduce((a, e) => a + e.bytes, 0);
  }

  get stats(): PromptCacheStats {
    return { entries: this.entries.length, bytes: this.bytes, capBytes: this.capBytes, ...this.counts };
  }

  /** Token lists of the entries kept for `model`, most recently used first. */
  keys(model: string): number[][] {
    return this.entries
      .filter((e) => e.model === model)
      .sort((a, b) => b.used - a.used)
      .map((e) => [...e.seq.tokens]);
  }

  /**
   * A copy of the kept sequence with the longest common prefix with `prompt`, trimmed to it.
   * At least one prompt token is always left to run (its logits start the reply); null when
   * nothing useful is kept.
   */
  lookup(model: string, prompt: readonly number[]): PromptCacheHit | null {
    let best: Entry | null = null;
    let shared = 0;
    for (const e of this.entries) {
      if (e.model !== model) continue;
      const n = commonPrefix(e.seq.tokens, prompt);
      if (n > shared) {
        best = e;
        shared = n;
      }
    }
    const usable = Math.min(shared, prompt.length - 1);
    if (best === null || usable <= 0) {
      this.counts.misses++;
      return null;
    }
    best.used = ++this.clock;
    const sequence = best.seq.fork(usable);
    this.counts.hits++;
    this.counts.reusedTokens += usable;
    return { sequence, cachedTokens: usable };
  }

  /**
   * Keeps `seq` (ownership passes to the cache: the caller must not step it again). Entries that
   * are a prefix of it are dropped, since it serves every prompt they served; if it is itself a
   * prefix of a kept entry, that entry is only marked used. Returns whether it was kept.
   */
  store(model: string, seq: Sequence): boolean {
    const tokens = seq.tokens;
    if (tokens.length === 0) return false;
    for (const e of this.entries) {
      if (e.model === model && e.seq.length >= tokens.length && commonPrefix(e.seq.tokens, tokens) === tokens.length) {
        e.used = ++this.clock;
        return false;
      }
    }
    // A kept cache is never stepped again: the slack of its growth blocks would be held for
    // nothing (up to 255 tokens per layer, or a fork's whole parent storage), and resident
    // memory would outgrow the count the cap is checked against. On the native backend it moves
    // to memory of its own, which eviction returns to the OS at once.
    seq.cache.compact();
    const bytes = seq.cache.heldBytes;
    if (bytes > this.capBytes) {
      seq.cache.release();
      return false;
    }
    this.drop((e) => e.model === model && commonPrefix(e.seq.tokens, tokens) === e.seq.length);
    this.entries.push({ model, seq, bytes, used: ++this.clock });
    this.evict();
    return true;
  }

  /** Forgets a model's entries (it was unloaded: its caches live on its backend). */
  dropModel(model: string): void {
    this.drop((e) => e.model === model);
  }

  /** Removes matching entries and frees their memory now (not when the collector gets to it). */
  private drop(match: (e: Entry) => boolean): void {
    const gone = this.entries.filter(match);
    this.entries = this.entries.filter((e) => !gone.includes(e));
    for (const e of gone) e.seq.cache.release();
  }

  private evict(): void {
    let total = this.bytes;
    while (total > this.capBytes && this.entries.length > 0) {
      let oldest = 0;
      for (let i = 1; i < this.entries.length; i++) if (this.entries[i]!.used < this.entries[oldest]!.used) oldest = i;
      total -= this.entries[oldest]!.bytes;
      this.entries.splice(oldest, 1)[0]!.seq.cache.release();
      this.counts.evictions++;
    }
  }
}

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

// The BPE model of a tokenizer.json ("model": {"type": "BPE", ...}): merges one pre-token
// at a time, always the lowest-ranked adjacent pair, leftmost first (the order HF
// tokenizers' BPE::merge_word uses), through a binary heap so long words stay O(n log n).
import { MlxkError } from '../io/errors.js';

/** Ids must stay below this so a (left, right) pair packs into one exact double key. */
const ID_BOUND = 2 ** 24;
const CACHE_LIMIT = 100_000;

export interface BpeOptions {
  /** Emit a whole pre-token directly when it is in the vocabulary (Llama-3 sets this). */
  ignoreMerges: boolean;
  unkId?: number;
  fuseUnk: boolean;
}

/** A min-heap of (rank, position) pairs ordered by rank, then position. */
class PairHeap {
  private ranks: number[] = [];
  private pos: number[] = [];
  /** The rank of the entry the last pop() removed. */
  lastRank = -1;

  get size(): number {
    return this.ranks.length;
  }

  private less(a: number, b: number): boolean {
    const ra = this.ranks[a]!, rb = this.ranks[b]!;
    return ra < rb || (ra === rb && this.pos[a]! < this.pos[b]!);
  }

  private swap(a: number, b: number): void {
    [this.ranks[a], this.ranks[b]] = [this.ranks[b]!, this.ranks[a]!];
    [this.pos[a], this.pos[b]] = [this.pos[b]!, this.pos[a]!];
  }

  push(rank: number, position: number): void {
    this.ranks.push(rank);
    this.pos.push(position);
    let i = this.ranks.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the smallest entry; returns its position and leaves its rank in `lastRank`. */
  pop(): number {
    const top = this.pos[0]!;
    this.lastRank = this.ranks[0]!;
    const last = this.ranks.length - 1;
    this.swap(0, last);
    this.ranks.pop();
    this.pos.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

export class BpeModel {
  private readonly pairRank = new Map<number, number>();
  private readonly mergedId: Int32Array;
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    private readonly opts: BpeOptions,
    where: string,
  ) {
    for (const [token, id] of vocab) {
      if (!Number.isInteger(id) || id < 0 || id >= ID_BOUND) throw new MlxkError(`${where}: model.vocab["${token}"] = ${id} is not an id in 0..${ID_BOUND - 1}`);
    }
    this.mergedId = new Int32Array(merges.length);
    merges.forEach(([a, b], rank) => {
      const left = vocab.get(a), right = vocab.get(b), merged = vocab.get(a + b);
      if (left === undefined || right === undefined || merged === undefined) {
        const missing = left === undefined ? a : right === undefined ? b : a + b;
        throw new MlxkError(`${where}: model.merges[${rank}] ("${a}" "${b}") uses "${missing}", which is not in model.vocab`);
      }
      // A repeated pair keeps its last rank, as HF tokenizers' merge map (a HashMap built in order) does.
      this.pairRank.set(left * ID_BOUND + right, rank);
      this.mergedId[rank] = merged;
    });
  }

  /** Token ids of one pre-token, given as its byte-level string. */
  tokenize(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const ids = this.tokenizeUncached(word);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private tokenizeUncached(word: string): number[] {
    if (this.opts.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return [whole];
    }
    const symbols: number[] = [];
    let lastUnk = false;
    for (const ch of word) {
      const id = this.vocab.get(ch);
      if (id !== undefined) {
        symbols.push(id);
        lastUnk = false;
      } else if (this.opts.unkId !== undefined) {
        // HF tokenizers: a character outside the vocabulary becomes unk (runs fused when fuse_unk).
        if (!(this.opts.fuseUnk && lastUnk)) symbols.push(this.opts.unkId);
        lastUnk = true;
      }
    }
    return symbols.length < 2 ? symbols : this.merge(symbols);
  }

  private rank(left: number, right: number): number {
    return this.pairRank.get(left * ID_BOUND + right) ?? -1;
  }

  private merge(symbols: number[]): number[] {
    const n = symbols.length;
    const sym = Int32Array.from(symbols);
    const prev = new Int32Array(n), next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = new PairHeap();
    for (let i = 0; i + 1 < n; i++) {
      const r = this.rank(sym[i]!, sym[i + 1]!);
      if (r >= 0) heap.push(r, i);
    }
    while (heap.size > 0) {
      const i = heap.pop();
      const r = heap.lastRank;
      const j = next[i]!;
      // Entries go stale when a neighbour merged first; the pair still there must have this rank.
      if (sym[i]! < 0 || j < 0 || this.rank(sym[i]!, sym[j]!) !== r) continue;
      sym[i] = this.mergedId[r]!;
      sym[j] = -1;
      const after = next[j]!;
      next[i] = after;
      if (after >= 0) prev[after] = i;
      const before = prev[i]!;
      if (before >= 0) {
        const rl = this.rank(sym[before]!, sym[i]!);
        if (rl >= 0) heap.push(rl, before);
      }
      if (after >= 0) {
        const rr = this.rank(sym[i]!, sym[after]!);
        if (rr >= 0) heap.push(rr, i);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
    return out;
  }
}

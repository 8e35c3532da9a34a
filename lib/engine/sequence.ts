// One request's state on a model: the tokens in its cache, advanced by explicit steps
// (prefill a run of tokens, decode one) that each return the next-token logits. A
// server keeps one per request and may interleave their steps, fork them (prefix reuse)
// or trim them back; nothing here decides what to sample.
import { MlxkError } from '../io/errors.js';
import type { CausalLM } from '../models/model.js';
import { batcherFor } from './batcher.js';
import type { KvCache } from './kvCache.js';

export const DEFAULT_PREFILL_CHUNK = 512;

export class Sequence {
  private readonly ids: number[];

  constructor(readonly model: CausalLM, readonly cache: KvCache = model.newCache(), tokens: readonly number[] = []) {
    if (tokens.length !== cache.length) throw new Error(`a cache of ${cache.length} tokens needs those ${cache.length} token ids, got ${tokens.length}`);
    this.ids = [...tokens];
  }

  /** Tokens processed so far (prompt and generated). */
  get tokens(): readonly number[] {
    return this.ids;
  }

  get length(): number {
    return this.ids.length;
  }

  /** Runs `ids` through the model in chunks and returns the logits after the last one. */
  async prefill(ids: readonly number[], chunkSize = DEFAULT_PREFILL_CHUNK): Promise<Float32Array> {
    if (ids.length === 0) throw new MlxkError('the prompt is empty (no tokens to run)');
    this.checkRoom(ids.length);
    let logits: Float32Array = new Float32Array(0);
    for (let start = 0; start < ids.length; start += chunkSize) {
      logits = await this.step(ids.slice(start, start + chunkSize), start + chunkSize >= ids.length);
    }
    return logits;
  }

  /** Feeds one token and returns the logits for the next. */
  async decode(id: number): Promise<Float32Array> {
    this.checkRoom(1);
    return this.step([id], true);
  }

  private async step(ids: number[], read: boolean): Promise<Float32Array> {
    const { info } = this.model;
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= info.vocabSize);
    if (bad !== undefined) throw new MlxkError(`token id ${bad} is outside the model's vocabulary (0..${info.vocabSize - 1})`);
    // Joins whatever other sequences of this model step now (continuous batching).
    const out = await batcherFor(this.model).step(this.cache, ids, read);
    this.ids.push(...ids);
    return out;
  }

  /** Room left in the model's context. */
  get remaining(): number {
    return this.model.info.maxContext - this.ids.length;
  }

  /** Keeps the first n tokens (for reusing a shared prefix). */
  trim(n: number): void {
    this.cache.trim(n);
    this.ids.length = n;
  }

  /** An independent copy of the first n tokens (all by default). */
  fork(n = this.ids.length): Sequence {
    return new Sequence(this.model, this.cache.copy(n), this.ids.slice(0, n));
  }

  private checkRoom(n: number): void {
    const max = this.model.info.maxContext;
    if (this.ids.length + n > max) {
      throw new MlxkError(`${this.ids.length + n} tokens do not fit the model's context of ${max} (max_position_embeddings)`, this.ids.length === 0 ? 'shorten the prompt' : undefined);
    }
  }
}

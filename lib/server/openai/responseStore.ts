// Responses kept for previous_response_id: each stored response's conversation (its input, the
// history it continued, and its output, as chat-template messages; not its instructions, which
// the API does not carry over), in memory, for a bounded time and within a byte cap (oldest out
// first). A response's size is its messages' JSON length, so the cap bounds what is held.
import type { ChatMessage } from '../../tokenizer/index.js';

export interface ResponseStoreOptions {
  /** Bytes of conversation kept in all (default 64 MiB). */
  maxBytes?: number;
  /** How long a response can be continued (default 1 hour). */
  ttlMs?: number;
  now?: () => number;
}

interface Entry {
  messages: ChatMessage[];
  bytes: number;
  expires: number;
}

export class ResponseStore {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  readonly maxBytes: number;
  readonly ttlMs: number;
  private readonly now: () => number;

  constructor(o: ResponseStoreOptions = {}) {
    this.maxBytes = o.maxBytes ?? 64 * 2 ** 20;
    this.ttlMs = o.ttlMs ?? 60 * 60 * 1000;
    this.now = o.now ?? Date.now;
  }

  get stats(): { entries: number; bytes: number; capBytes: number } {
    this.expire();
    return { entries: this.entries.size, bytes: this.bytes, capBytes: this.maxBytes };
  }

  /** Keeps a conversation; one larger than the whole cap is not kept. */
  put(id: string, messages: ChatMessage[]): void {
    const bytes = Buffer.byteLength(JSON.stringify(messages));
    this.drop(id);
    if (bytes > this.maxBytes) return;
    this.expire();
    // Map order is insertion order: the first entries are the oldest.
    for (const [old] of this.entries) {
      if (this.bytes + bytes <= this.maxBytes) break;
      this.drop(old);
    }
    this.entries.set(id, { messages, bytes, expires: this.now() + this.ttlMs });
    this.bytes += bytes;
  }

  /** The conversation a response ended, or undefined when unknown, expired or evicted. */
  get(id: string): ChatMessage[] | undefined {
    this.expire();
    return this.entries.get(id)?.messages;
  }

  private expire(): void {
    const t = this.now();
    for (const [id, e] of this.entries) if (e.expires <= t) this.drop(id);
  }

  private drop(id: string): void {
    const e = this.entries.get(id);
    if (e === undefined) return;
    this.bytes -= e.bytes;
    this.entries.delete(id);
  }
}

// Incremental detokenization for streaming: token bytes go through one streaming UTF-8
// decoder, which holds back an incomplete trailing sequence until the bytes that complete it
// arrive, and replaces only bytes no continuation could make valid. So no chunk ends in a
// broken character, and the chunks joined equal decode() of all ids.
import type { TokenCodec } from './types.js';

export class StreamDecoder {
  private utf8 = new TextDecoder('utf-8');

  constructor(private readonly codec: TokenCodec, private readonly opts: { skipSpecial?: boolean } = {}) {}

  /** Text completed by this token ('' while a character is still incomplete). */
  push(id: number): string {
    if (this.opts.skipSpecial && this.codec.specialIds.has(id)) return '';
    return this.utf8.decode(this.codec.tokenBytes(id), { stream: true });
  }

  /** The rest at the end of the stream: U+FFFD for bytes of a character that never completed. */
  flush(): string {
    return this.utf8.decode();
  }
}

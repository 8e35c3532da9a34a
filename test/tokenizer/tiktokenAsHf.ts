// Test helper: the tokenizer.json a converter would write for a tiktoken vocabulary
// (as llama.cpp's convert script recovers merges from mergeable ranks): each multi-byte
// token's merge is the last step of tiktoken's own byte-pair merge restricted to lower ranks.
import { bytesToByteChars } from '../../lib/tokenizer/byteLevel.js';

function key(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

/** tiktoken's merge of `bytes` using only ranks below maxRank; returns the final parts. */
function mergeBelow(bytes: Uint8Array, rankOf: Map<string, number>, maxRank: number): Uint8Array[] {
  let parts = [...bytes].map((b) => Uint8Array.of(b));
  for (;;) {
    let best = -1;
    let bestRank = maxRank;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rankOf.get(key(Buffer.concat([parts[i]!, parts[i + 1]!])));
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts = [...parts.slice(0, best), Buffer.concat([parts[best]!, parts[best + 1]!]), ...parts.slice(best + 2)];
  }
}

export function tiktokenAsTokenizerJson(ranks: Uint8Array[], patStr: string, specials: ReadonlyMap<string, number>): Record<string, unknown> {
  const rankOf = new Map(ranks.map((b, r) => [key(b), r]));
  const vocab: Record<string, number> = {};
  const merges: Array<[string, string]> = [];
  ranks.forEach((b, r) => {
    vocab[bytesToByteChars(b)] = r;
    if (b.length < 2) return;
    const parts = mergeBelow(b, rankOf, r);
    if (parts.length !== 2) throw new Error(`rank ${r} does not split into two lower-ranked tokens`);
    merges.push([bytesToByteChars(parts[0]!), bytesToByteChars(parts[1]!)]);
  });
  return {
    added_tokens: [...specials].map(([content, id]) => ({ id, content, special: true, normalized: false, lstrip: false, rstrip: false, single_word: false })),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: patStr }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, byte_fallback: false, ignore_merges: true, vocab, merges },
  };
}

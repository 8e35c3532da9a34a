// Streaming detokenization, one id at a time, for both tokenizer kinds: chunks never end in a
// broken character, no U+FFFD appears for bytes a later token completes, and the chunks joined
// equal decode() of all ids.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BYTE_TO_CHAR } from '../../lib/tokenizer/byteLevel.js';
import { BpeTokenizer } from '../../lib/tokenizer/bpeTokenizer.js';
import { StreamDecoder } from '../../lib/tokenizer/streamDecoder.js';
import { KimiTiktokenTokenizer } from '../../lib/tokenizer/tiktokenTokenizer.js';
import type { TokenCodec } from '../../lib/tokenizer/types.js';

const dir = new URL('../../../models/tiny-kimi/', import.meta.url).pathname;
const configPath = join(dir, 'tokenizer_config.json');
const kimi = new KimiTiktokenTokenizer(join(dir, 'tiktoken.model'), JSON.parse(readFileSync(configPath, 'utf8')), configPath);

function stream(codec: TokenCodec, ids: number[], skipSpecial = false): string[] {
  const d = new StreamDecoder(codec, { skipSpecial });
  return [...ids.map((id) => d.push(id)), d.flush()];
}

test('Kimi: CJK and emoji split into byte tokens come out whole, once complete', () => {
  const text = '中文 😀 naïve';
  const ids = kimi.encode(text);
  // tiny-kimi has no merges for these characters: 中 is three byte tokens, 😀 four.
  assert.equal(ids.slice(0, 3), [0xe4, 0xb8, 0xad]);
  const chunks = stream(kimi, ids);
  assert.equal(chunks.slice(0, 3), ['', '', '中']);
  const smile = ids.indexOf(0xf0);
  assert.equal(chunks.slice(smile, smile + 4), ['', '', '', '😀']);
  assert.is(chunks.join(''), text);
  assert.ok(chunks.every((c) => !c.includes('\ufffd')));
});

test('Kimi: whole eval text streamed token by token equals decode()', () => {
  const text = readFileSync(join(dir, 'eval-A.txt'), 'utf8').slice(0, 20_000) + '汉字🙂—“”';
  const ids = kimi.encode(text);
  const chunks = stream(kimi, ids);
  assert.is(chunks.join(''), text);
  assert.ok(chunks.every((c) => !c.includes('\ufffd')));
});

test('invalid bytes become U+FFFD at once; an unfinished character only at flush', () => {
  // E4 then "A": no continuation can repair E4 any more.
  assert.equal(stream(kimi, [0xe4, 0x41]), ['', '\ufffdA', '']);
  // E4 B8 then the end of the stream.
  assert.equal(stream(kimi, [0x68, 0xe4, 0xb8]), ['h', '', '', '\ufffd']);
  // A stray continuation byte.
  assert.equal(stream(kimi, [0x80, 0x68]), ['\ufffd', 'h', '']);
  assert.is(kimi.decode([0x68, 0xe4, 0xb8]), 'h\ufffd');
});

test('special tokens: text by default, nothing with skipSpecial', () => {
  const ids = kimi.encode('<|im_assistant|>hi<|im_end|>', { special: true });
  assert.is(stream(kimi, ids).join(''), '<|im_assistant|>hi<|im_end|>');
  assert.is(stream(kimi, ids, true).join(''), 'hi');
});

test('byte-level BPE: merged tokens that hold part of a UTF-8 character', () => {
  // 😀 = F0 9F 98 80; the vocabulary has "F0 9F" and "98 80" as tokens, é = C3 A9 split as C3 | A9.
  const c = (b: number) => BYTE_TO_CHAR[b]!;
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((ch, b) => (vocab[ch] = b));
  vocab[c(0xf0) + c(0x9f)] = 256;
  vocab[c(0x98) + c(0x80)] = 257;
  const bpe = new BpeTokenizer(
    {
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
      decoder: { type: 'ByteLevel' },
      model: { type: 'BPE', vocab, merges: [[c(0xf0), c(0x9f)], [c(0x98), c(0x80)]] },
    },
    'test',
  );
  const ids = bpe.encode('😀é');
  assert.equal(ids, [256, 257, 0xc3, 0xa9]);
  assert.equal(stream(bpe, ids), ['', '😀', '', 'é', '']);
});

test.run();

// tokenizer.json byte-level BPE on small hand-built vocabularies whose encodings are worked
// out by hand: merge order, added tokens, pre-tokenizer behaviours, normalizer, decoder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxkError } from '../../lib/io/errors.js';
import { BYTE_TO_CHAR } from '../../lib/tokenizer/byteLevel.js';
import { BpeTokenizer } from '../../lib/tokenizer/bpeTokenizer.js';
import { buildPreTokenizer } from '../../lib/tokenizer/preTokenizer.js';

/** Ids 0..255 are the single bytes (id = byte value); `extra` adds merged tokens from 256 on. */
function tokenizerJson(merges: Array<string | [string, string]>, opts: Record<string, unknown> = {}): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => (vocab[c] = b));
  let next = 256;
  for (const m of merges) {
    const [a, b] = typeof m === 'string' ? m.split(' ') : m;
    if (vocab[a! + b!] === undefined) vocab[a! + b!] = next++;
  }
  for (const t of (opts.extraVocab as string[] | undefined) ?? []) vocab[t] = next++;
  return {
    added_tokens: opts.added ?? [],
    normalizer: opts.normalizer ?? null,
    pre_tokenizer: opts.pre_tokenizer ?? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: opts.post_processor ?? null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, byte_fallback: false, ignore_merges: opts.ignoreMerges ?? false, vocab, merges },
  };
}

const bpe = (merges: Array<string | [string, string]>, opts?: Record<string, unknown>) => new BpeTokenizer(tokenizerJson(merges, opts), 'test.json');
const added = (id: number, content: string, more: Record<string, unknown> = {}) => ({ id, content, special: false, normalized: false, lstrip: false, rstrip: false, single_word: false, ...more });

test('the lowest-ranked pair merges first', () => {
  // "b c" ranks before "a b": abc → a + bc.  Reversed ranks: ab + c.
  const t1 = bpe(['b c', 'a b']); // bc = 256, ab = 257
  assert.equal(t1.encode('abc'), [97, 256]);
  const t2 = bpe(['a b', 'b c']); // ab = 256, bc = 257
  assert.equal(t2.encode('abc'), [256, 99]);
});

test('equal ranks merge leftmost first; merges chain', () => {
  const t = bpe(['a a', 'aa aa']); // aa = 256, aaaa = 257
  assert.equal(t.encode('aaa'), [256, 97]);
  assert.equal(t.encode('aaaaa'), [257, 97]);
  assert.equal(t.encode('aaaaaa'), [257, 256]);
});

test('GPT-2 ByteLevel pre-tokenizer: words carry their leading space as Ġ', () => {
  const t = bpe(['Ġ a', 'Ġa b', 'a b', 'ab c']); // Ġa 256, Ġab 257, ab 258, abc 259
  assert.equal(t.encode('abc ab'), [259, 257]);
  // "  abc" → " " + " abc"; in "Ġabc" Ġ+a outranks a+b, and "Ġab c" is no merge.
  assert.equal(t.encode('ab  abc'), [258, 32, 257, 99]);
  assert.is(t.decode([259, 257]), 'abc ab');
});

test('merges given as "a b" strings and as [a, b] pairs are the same', () => {
  const a = bpe(['a b', 'ab c', 'Ġ a']);
  const b = bpe([['a', 'b'], ['ab', 'c'], ['Ġ', 'a']]);
  for (const s of ['abc', ' abcab', 'cab a']) assert.equal(b.encode(s), a.encode(s));
});

test('ignore_merges: a pre-token that is a vocabulary entry is one token even without merges to it', () => {
  assert.equal(bpe([], { extraVocab: ['xyz'], ignoreMerges: true }).encode('xyz'), [256]);
  assert.equal(bpe([], { extraVocab: ['xyz'], ignoreMerges: false }).encode('xyz'), [120, 121, 122]);
});

test('added tokens: special ones only with special=true; others always; lstrip/rstrip; single_word', () => {
  const t = bpe([], {
    added: [
      added(300, '<|end|>', { special: true }),
      added(301, '[X]'),
      added(302, '<m>', { lstrip: true, rstrip: true }),
      added(303, 'on', { single_word: true }),
    ],
  });
  assert.equal(t.encode('a<|end|>[X]', { special: true }), [97, 300, 301]);
  assert.equal(t.encode('a<|end|>[X]'), [97, ...[...'<|end|>'].map((c) => c.charCodeAt(0)), 301]);
  assert.equal(t.encode('a  <m>  b'), [97, 302, 98]);
  assert.equal(t.encode('on son on'), [303, 32, 115, 111, 110, 32, 303]);
  assert.ok(t.specialIds.has(300) && !t.specialIds.has(301));
});

test('Split behaviours on "the-final--countdown" (the HF tokenizers documentation examples)', () => {
  const split = (behavior: string) =>
    buildPreTokenizer({ type: 'Split', pattern: { String: '-' }, behavior, invert: false }, 'test').run(['the-final--countdown']);
  assert.equal(split('Removed'), ['the', 'final', 'countdown']);
  assert.equal(split('Isolated'), ['the', '-', 'final', '-', '-', 'countdown']);
  assert.equal(split('MergedWithPrevious'), ['the-', 'final-', '-', 'countdown']);
  assert.equal(split('MergedWithNext'), ['the', '-final', '-', '-countdown']);
  assert.equal(split('Contiguous'), ['the', '-', 'final', '--', 'countdown']);
  const inverted = buildPreTokenizer({ type: 'Split', pattern: { Regex: '\\p{L}+' }, behavior: 'Removed', invert: true }, 'test');
  assert.equal(inverted.run(['ab, cd']), ['ab', 'cd']);
});

test('Digits, ByteLevel add_prefix_space, Sequence order', () => {
  const digits = (individual: boolean) => buildPreTokenizer({ type: 'Digits', individual_digits: individual }, 't').run(['a12b3']);
  assert.equal(digits(true), ['a', '1', '2', 'b', '3']);
  assert.equal(digits(false), ['a', '12', 'b', '3']);
  const spaced = buildPreTokenizer({ type: 'ByteLevel', add_prefix_space: true, use_regex: true }, 't');
  assert.equal(spaced.run(['hi there', ' x']), ['Ġhi', 'Ġthere', 'Ġx']);
  const seq = buildPreTokenizer(
    {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
      ],
    },
    't',
  );
  assert.ok(seq.byteLevel);
  assert.equal(seq.run(['x12345 é']), ['x', '123', '45', 'ĠÃ©']);
});

test('NFC normalizer composes before byte mapping', () => {
  const nfc = bpe([], { normalizer: { type: 'NFC' } });
  assert.equal(nfc.encode('e\u0301'), [0xc3, 0xa9]);
  assert.equal(bpe([]).encode('e\u0301'), [0x65, 0xcc, 0x81]);
});

test('decode: byte characters back to bytes, added tokens as their text, skipSpecial, unknown ids dropped', () => {
  const t = bpe(['Ã ©'], { added: [added(300, '<|end|>', { special: true }), added(301, 'naïve €')] });
  const e = t.tokenToId('Ã©')!;
  assert.is(t.decode([104, e, 300]), 'hé<|end|>');
  assert.is(t.decode([104, e, 300], { skipSpecial: true }), 'hé');
  // "naïve €" has characters that are not byte stand-ins (space, €), so it keeps its own UTF-8.
  assert.is(t.decode([301]), 'naïve €');
  assert.is(t.decode([104, 99_999]), 'h');
  assert.is(t.idToToken(e), 'Ã©');
  assert.is(t.vocabSize, 302);
});

test('post_processor TemplateProcessing adds BOS only with addSpecial', () => {
  const t = bpe([], {
    added: [added(300, '<s>', { special: true })],
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [300], tokens: ['<s>'] } },
    },
  });
  assert.equal(t.encode('a', { addSpecial: true }), [300, 97]);
  assert.equal(t.encode('a'), [97]);
});

test('unsupported or broken tokenizer.json parts are MlxkErrors naming the field', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...tokenizerJson(['a b']), model: { ...(tokenizerJson(['a b']).model as object), merges: ['a ZZ'] } }, /model\.merges\[0\] \("a" "ZZ"\) uses "ZZ"/],
    [{ ...tokenizerJson([]), model: { ...(tokenizerJson([]).model as object), byte_fallback: true } }, /byte_fallback/],
    [{ ...tokenizerJson([]), pre_tokenizer: { type: 'Metaspace', replacement: '▁' } }, /pre_tokenizer type "Metaspace" is not supported/],
    [{ ...tokenizerJson([]), pre_tokenizer: { type: 'Split', pattern: { Regex: 'a' }, behavior: 'Isolated' } }, /no ByteLevel step/],
    [{ ...tokenizerJson([]), decoder: null }, /decoder must be ByteLevel/],
    [{ ...tokenizerJson([]), model: { ...(tokenizerJson([]).model as object), type: 'Unigram' } }, /model\.type "Unigram" is not supported/],
    [{ ...tokenizerJson([]), added_tokens: [{ content: 'x' }] }, /added_tokens\[0\]\.id must be a token id/],
  ];
  for (const [json, message] of cases) {
    try {
      new BpeTokenizer(json, 'model/tokenizer.json');
      assert.unreachable(`accepted: ${message}`);
    } catch (e) {
      assert.instance(e, MlxkError);
      assert.match((e as Error).message, /^model\/tokenizer\.json/);
      assert.match((e as Error).message, message);
    }
  }
});

test.run();

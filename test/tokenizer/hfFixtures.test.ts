// tokenizer.json BPE against HF `tokenizers` 0.23 outputs (test/fixtures/tokenizers, made by
// tools/make_fixtures.py on the fixtures branch): Llama-3 style (ignore_merges, [a, b] merges,
// BOS post-processor) and Qwen2 style (NFC, "a b" merges, \p{N} digits).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpeTokenizer } from '../../lib/tokenizer/bpeTokenizer.js';
import { StreamDecoder } from '../../lib/tokenizer/streamDecoder.js';

interface Case {
  text: string;
  ids: number[];
  tokens: string[];
  ids_add_special_tokens: number[];
  ids_special_tokens_as_text: number[];
  decode_ids_special_tokens_as_text: string;
  decode: string;
  decode_skip_special: string;
  decode_each: string[];
  ids_with_ignore_merges_flipped?: number[];
}

const root = new URL('../../../', import.meta.url).pathname;
const fixture = (style: string, file: string) => JSON.parse(readFileSync(`${root}test/fixtures/tokenizers/${style}/${file}`, 'utf8'));

for (const style of ['llama3', 'qwen2']) {
  const json = fixture(style, 'tokenizer.json');
  const expected = fixture(style, 'cases.json');
  const tok = new BpeTokenizer(json, `${style}/tokenizer.json`);
  const cases = expected.cases as Case[];

  test(`${style}: ids, tokens, add_special_tokens and special-tokens-as-text for ${cases.length} cases`, () => {
    assert.ok(cases.length >= 40);
    assert.is(tok.vocabSize, expected.vocab_size_with_added);
    for (const c of cases) {
      const what = JSON.stringify(c.text);
      assert.equal(tok.encode(c.text, { special: true }), c.ids, `ids ${what}`);
      assert.equal(c.ids.map((id) => tok.idToToken(id)), c.tokens, `tokens ${what}`);
      assert.equal(tok.encode(c.text, { special: true, addSpecial: true }), c.ids_add_special_tokens, `add_special_tokens ${what}`);
      assert.equal(tok.encode(c.text), c.ids_special_tokens_as_text, `special tokens as text ${what}`);
    }
  });

  test(`${style}: decode, skip_special_tokens, each id alone, streamed`, () => {
    for (const c of cases) {
      const what = JSON.stringify(c.text);
      assert.is(tok.decode(c.ids), c.decode, `decode ${what}`);
      assert.is(tok.decode(c.ids, { skipSpecial: true }), c.decode_skip_special, `skip special ${what}`);
      assert.is(tok.decode(c.ids_special_tokens_as_text), c.decode_ids_special_tokens_as_text, `decode as text ${what}`);
      assert.equal(c.ids.map((id) => tok.decode([id])), c.decode_each, `decode each ${what}`);
      const stream = new StreamDecoder(tok);
      const chunks = [...c.ids.map((id) => stream.push(id)), stream.flush()];
      assert.is(chunks.join(''), c.decode, `streamed ${what}`);
    }
  });

  test(`${style}: the opposite ignore_merges setting gives the flipped ids`, () => {
    const flipped = new BpeTokenizer({ ...json, model: { ...json.model, ignore_merges: !json.model.ignore_merges } }, 'flipped');
    const withFlip = cases.filter((c) => c.ids_with_ignore_merges_flipped);
    assert.ok(withFlip.length >= 2);
    for (const c of withFlip) assert.equal(flipped.encode(c.text, { special: true }), c.ids_with_ignore_merges_flipped, JSON.stringify(c.text));
    for (const c of cases.filter((x) => !x.ids_with_ignore_merges_flipped)) assert.equal(flipped.encode(c.text, { special: true }), c.ids);
  });

  test(`${style}: all of eval-A.txt (count, SHA-256 of the int32 ids, first ids)`, () => {
    const text = readFileSync(`${root}models/tiny-kimi/eval-A.txt`, 'utf8');
    const ids = tok.encode(text);
    assert.is(ids.length, expected.eval_text.num_ids);
    assert.equal(ids.slice(0, expected.eval_text.first_ids.length), expected.eval_text.first_ids);
    const le = Buffer.alloc(ids.length * 4);
    ids.forEach((id, i) => le.writeInt32LE(id, i * 4));
    assert.is(createHash('sha256').update(le).digest('hex'), expected.eval_text.ids_sha256_int32le);
  });
}

test.run();

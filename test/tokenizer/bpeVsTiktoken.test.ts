// Independent check of the pure-TS path (regex translation + BPE merging) against tiktoken's
// Rust code: tiny-kimi's tiktoken.model rewritten as a tokenizer.json (Split with Kimi's
// pat_str, which needs class intersection, then ByteLevel) must give tiktoken's ids.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpeTokenizer } from '../../lib/tokenizer/bpeTokenizer.js';
import { KimiTiktokenTokenizer, readTiktokenRanks } from '../../lib/tokenizer/tiktokenTokenizer.js';
import { tiktokenAsTokenizerJson } from './tiktokenAsHf.js';

const dir = new URL('../../../models/tiny-kimi/', import.meta.url).pathname;
const configPath = join(dir, 'tokenizer_config.json');
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const kimi = new KimiTiktokenTokenizer(join(dir, 'tiktoken.model'), config, configPath);
const ranks = readTiktokenRanks('tiktoken.model', readFileSync(join(dir, 'tiktoken.model'), 'utf8'));
const bpe = new BpeTokenizer(tiktokenAsTokenizerJson(ranks, config.pat_str, kimi.specialTokens), 'converted tiny-kimi');

test('eval-A.txt: every one of the 107,907 ids equal', () => {
  const text = readFileSync(join(dir, 'eval-A.txt'), 'utf8');
  const expected = kimi.encode(text);
  const got = bpe.encode(text);
  assert.is(got.length, expected.length);
  const firstDiff = got.findIndex((id, i) => id !== expected[i]);
  assert.is(firstDiff, -1, `first difference at token ${firstDiff}`);
});

test('scripts, case folding, marks, digits and whitespace the pattern treats specially', () => {
  const samples = [
    "'ſ 'K 'S DON'T don'T I'M", // (?i:…) contractions under simple case folding
    '中文かな漢字カナ한국어abc中x', // Han runs vs other letters (class intersection)
    'e\u0301\u0302 ǅungla ǈ Σσς ΆΈ', // marks, titlecase letters
    '١٢٣٤ 12345 ⅫⅦ ½', // non-ASCII digits and numbers
    'a\u0085b\u3000 c\t\r\n\r\n  \n d\u00a0e\ufefff', // Unicode whitespace, BOM is not whitespace
    '👩‍👩‍👧 🇫🇷 a😀b', // emoji sequences
    '  leading and trailing   ',
    '<|im_end|><think>x</think>',
  ];
  for (const s of samples) {
    assert.equal(bpe.encode(s), kimi.encode(s), JSON.stringify(s));
    assert.equal(bpe.encode(s, { special: true }), kimi.encode(s, { special: true }), `special: ${JSON.stringify(s)}`);
    assert.is(bpe.decode(bpe.encode(s)), s);
  }
});

test.run();

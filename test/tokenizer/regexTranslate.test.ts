// Oniguruma / Rust-regex patterns translated to JS, checked on hand-worked matches.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxkError } from '../../lib/io/errors.js';
import { translateRegex } from '../../lib/tokenizer/regexTranslate.js';

const matches = (pattern: string, text: string) => [...text.matchAll(translateRegex(pattern, 'test'))].map((m) => m[0]);

const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

test('Llama-3 split pattern: contractions case-insensitive, digits in threes, whitespace rules', () => {
  assert.equal(matches(LLAMA3, "I'M here  12345 ok!!\n\n  x"), ['I', "'M", ' here', ' ', ' ', '123', '45', ' ok', '!!\n\n', ' ', ' x']);
});

test('(?i:…) uses simple case folding like Rust regex: s ~ ſ, k ~ K (Kelvin sign)', () => {
  assert.equal(matches("(?i:'s|'k)", "'S 'ſ 'K 'x"), ["'S", "'ſ", "'K"]);
  assert.equal(matches('(?i:[a-c])+', 'xAbCx'), ['AbC']);
});

test('possessive quantifiers and atomic groups never give characters back', () => {
  assert.equal(matches('a*+a', 'aaa'), []);
  assert.equal(matches('a*+b', 'aab'), ['aab']);
  assert.equal(matches('(?>a+)a', 'aaaa'), []);
  assert.equal(matches('a?+b|a', 'ab a'), ['ab', 'a']);
  assert.equal(matches('(x)?+\\p{L}++', 'xyz 1'), ['xyz']);
});

test('\\s is Unicode White_Space (U+0085 yes, U+FEFF no), \\d is any decimal digit', () => {
  assert.equal(matches('\\s+', 'a\u0085b\ufeffc\u3000d'), ['\u0085', '\u3000']);
  assert.equal(matches('\\d+', 'x١٢3y'), ['١٢3']);
  assert.equal(matches('[^\\s\\p{L}]+', 'ab, \u00a0!?'), [',', '!?']);
});

test('\\p{Han} is a script; class intersection and nested negated classes', () => {
  assert.equal(matches('[\\p{Han}]+', '中文abc漢字'), ['中文', '漢字']);
  assert.equal(matches('[\\p{L}&&[^\\p{Han}]]+', 'ab中cd'), ['ab', 'cd']);
  assert.equal(matches('[^\\p{L}&&[^a-z]]+', 'abXY12'), ['ab', '12']);
  assert.equal(matches('[a[0-9]]+', 'a1b2'), ['a1', '2']);
});

test('DeepSeek-V3 punctuation class with escapes, \\x{…} and \\u escapes, literal braces', () => {
  const ds = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  assert.equal(matches(ds, '.hello world\\x [y'), ['.hello', ' world', '\\x', ' [', 'y']);
  assert.equal(matches('\\x{1F600}|\\u00e9|\\x41', 'é😀A'), ['é', '😀', 'A']);
  assert.equal(matches('a{b', 'xa{by'), ['a{b']);
  assert.equal(matches('a{2}', 'aaa'), ['aa']);
  assert.equal(matches('a{,2}b', 'aaab'), ['aab']);
  // DeepSeek-V3's CJK split: literal ranges of Han, Hiragana and Katakana.
  assert.equal(matches('[一-龥\u3040-ゟ゠-ヿ]+', 'ab漢字かなカナ1'), ['漢字かなカナ']);
});

test('. excludes only \\n; ^ and $ are line anchors (Oniguruma Ruby syntax)', () => {
  assert.equal(matches('.+', 'a\rb\nc'), ['a\rb', 'c']);
  assert.equal(matches('^a|b$', 'a\nab\nb'), ['a', 'a', 'b', 'b']);
});

test('untranslatable patterns are MlxkErrors naming the pattern', () => {
  for (const bad of ['(a)\\1', '(?x)a', '\\bword', '[abc', 'a)', '\\p{NoSuchScript}']) {
    try {
      translateRegex(bad, 'tokenizer.json: pre_tokenizer');
      assert.unreachable(`accepted ${bad}`);
    } catch (e) {
      assert.instance(e, MlxkError);
      assert.match((e as Error).message, 'tokenizer.json: pre_tokenizer');
      assert.match((e as Error).message, JSON.stringify(bad));
    }
  }
});

test.run();

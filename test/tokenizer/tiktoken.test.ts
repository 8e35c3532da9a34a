// Kimi's tiktoken tokenizer on tiny-kimi against golden.json (ids from Python tiktoken 0.14 with
// the same tiktoken.model and pat_str) and against tokenization_kimi.py's chunking rules.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tiktoken } from 'tiktoken';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CheckpointError } from '../../lib/io/errors.js';
import { KimiTiktokenTokenizer } from '../../lib/tokenizer/tiktokenTokenizer.js';

const dir = new URL('../../../models/tiny-kimi/', import.meta.url).pathname;
const configPath = join(dir, 'tokenizer_config.json');
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
const tok = new KimiTiktokenTokenizer(join(dir, 'tiktoken.model'), config, configPath);

test('golden tokenizer strings: encode_ordinary and encode(allowed_special="all")', () => {
  assert.ok(golden.tokenizer.tests.length >= 13);
  for (const t of golden.tokenizer.tests as Array<{ text: string; mode: string; ids: number[] }>) {
    const special = t.mode !== 'encode_ordinary';
    assert.equal(tok.encode(t.text, { special }), t.ids, `${t.mode}: ${JSON.stringify(t.text)}`);
    assert.is(tok.decode(t.ids), t.text, `decode ${JSON.stringify(t.text)}`);
  }
});

test('special token text is ordinary text unless specials are allowed', () => {
  assert.equal(tok.encode('<|im_end|>', { special: true }), [4098]);
  assert.ok(tok.encode('<|im_end|>').length > 1);
  assert.ok(!tok.encode('<|im_end|>').includes(4098));
});

test('eval-A.txt: encode_ordinary gives golden eval.tokens ids, windows match golden sequences', () => {
  const text = readFileSync(join(dir, 'eval-A.txt'), 'utf8');
  const ids = tok.encode(text);
  assert.is(ids.length, golden.eval.tokens);
  assert.is(ids.length, 107907);
  const seq = (name: string) => golden.sequences.find((s: { name: string }) => s.name === name).input_ids as number[];
  assert.equal(ids.slice(0, 64), seq('seq2'));
  assert.equal(ids.slice(2000, 2300), seq('seq3'));
  assert.is(tok.decode(ids), text);
});

test('greedy prompts: [BOS] + encode_ordinary(prompt) as in golden.json', () => {
  for (const g of golden.greedy as Array<{ prompt: string; prompt_ids: number[] }>) {
    assert.equal([4096, ...tok.encode(g.prompt)], g.prompt_ids, g.prompt);
  }
});

test('vocabulary: base ranks + 32 reserved ids, unnamed ones <|reserved_token_N|>', () => {
  assert.is(tok.vocabSize, 4128);
  assert.is(tok.specialTokens.get('<|im_end|>'), 4098);
  assert.is(tok.specialTokens.get('[PAD]'), 4127);
  assert.is(tok.specialTokens.get('<|reserved_token_4110|>'), 4110);
  assert.is(tok.idToToken(4098), '<|im_end|>');
  assert.is(tok.tokenToId('<|im_end|>'), 4098);
  assert.is(tok.idToToken(32), 'Ġ', 'byte 0x20 as its GPT-2 byte character');
  assert.is(tok.idToToken(4128), undefined);
  for (const id of [0, 10, 255, 256, 1000, 4095, 4096, 4127]) assert.is(tok.tokenToId(tok.idToToken(id)!), id);
  assert.ok(tok.specialIds.has(4098) && tok.specialIds.has(4110) && !tok.specialIds.has(4095));
});

test('unnamed reserved ids: config without added_tokens_decoder names all of them', () => {
  const bare = new KimiTiktokenTokenizer(join(dir, 'tiktoken.model'), { num_reserved_special_tokens: 4 }, 'cfg');
  assert.is(bare.vocabSize, 4100);
  assert.equal([...bare.specialTokens.keys()], ['<|reserved_token_4096|>', '<|reserved_token_4097|>', '<|reserved_token_4098|>', '<|reserved_token_4099|>']);
  assert.equal(bare.encode('<|reserved_token_4099|>', { special: true }), [4099]);
});

test('decode: skipSpecial drops special ids, ids outside the vocabulary decode to nothing', () => {
  const ids = tok.encode('<|im_user|>hi<|im_end|>', { special: true });
  assert.is(tok.decode(ids), '<|im_user|>hi<|im_end|>');
  assert.is(tok.decode(ids, { skipSpecial: true }), 'hi');
  assert.is(tok.decode([104, 99999, 105]), 'hi');
});

// tokenization_kimi.py: pieces of ≤400,000 code points, then runs of ≤25,000 consecutive
// (non-)whitespace code points, each encoded on its own. `whole` is tiktoken without any cutting;
// each case first checks that cutting changes the ids there, so the comparison means something.
const whole = new Tiktoken(readFileSync(join(dir, 'tiktoken.model'), 'utf8'), {}, config.pat_str);
const encodeWhole = (s: string) => Array.from(whole.encode_ordinary(s));
const cutAt = (s: string, at: number) => [...encodeWhole(s.slice(0, at)), ...encodeWhole(s.slice(at))];

test('a run longer than 25,000 characters is cut where tokenization_kimi.py cuts it', () => {
  const run = 'python'.repeat(4200); // 25,200 non-space characters; the cut falls inside "python"
  assert.not.equal(cutAt(run, 25_000), encodeWhole(run));
  assert.equal(tok.encode(run), cutAt(run, 25_000));
});

test('the 25,000 limit counts code points, not UTF-16 units', () => {
  const run = 'python😀'.repeat(3600); // 7 code points, 8 units each
  const byCodePoint = cutAt(run, 3571 * 8 + 3); // 25,000 code points = 3571 repeats + "pyt"
  assert.not.equal(byCodePoint, cutAt(run, 25_000));
  assert.equal(tok.encode(run), byCodePoint);
});

test("Python's str.isspace() decides runs: U+001C separates two runs", () => {
  const text = 'python'.repeat(2500) + '\x1c' + 'python'.repeat(2500); // 15,000 + 1 + 15,000
  assert.not.equal(cutAt(text, 25_000), encodeWhole(text));
  assert.equal(tok.encode(text), encodeWhole(text));
});

test('text longer than 400,000 characters is encoded in 400,000-character pieces', () => {
  const text = 'the function tutorial '.repeat(18_230); // 401,060 characters, short runs
  assert.not.equal(cutAt(text, 400_000), encodeWhole(text));
  assert.equal(tok.encode(text), cutAt(text, 400_000));
});

test('a malformed tiktoken.model line is a CheckpointError naming file and line', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mlxk-tok-'));
  const bad = join(tmp, 'tiktoken.model');
  writeFileSync(bad, 'AA== 0\nnot-base64! 1\n');
  try {
    new KimiTiktokenTokenizer(bad, {}, 'cfg');
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, CheckpointError);
    assert.match((e as Error).message, `${bad}: line 2`);
  }
  writeFileSync(bad, 'AA== 0\nAQ== 2\n');
  assert.throws(() => new KimiTiktokenTokenizer(bad, {}, 'cfg'), /rank 1 is missing/);
  writeFileSync(bad, 'AA== 0\nAQ== 1\n');
  assert.throws(() => new KimiTiktokenTokenizer(bad, { num_base_tokens: 4096 }, 'cfg'), /cfg: num_base_tokens is 4096 but .* has 2 ranks/);
  assert.throws(() => new KimiTiktokenTokenizer(bad, { added_tokens_decoder: { '1': { content: 'x' } } }, 'cfg'), /added_tokens_decoder\["1"\] is outside the special id range 2\.\.257/);
});

test.run();

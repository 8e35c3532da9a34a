// loadTokenizer(dir): tiny-kimi against its golden chat renderings and ids; a tokenizer.json
// directory's BOS/EOS and template sources; clear errors for missing or broken files.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CheckpointError, MlxkError } from '../../lib/io/errors.js';
import { BYTE_TO_CHAR } from '../../lib/tokenizer/byteLevel.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import type { ChatMessage } from '../../lib/tokenizer/types.js';

const tinyKimi = new URL('../../../models/tiny-kimi/', import.meta.url).pathname;
const golden = JSON.parse(readFileSync(join(tinyKimi, 'golden.json'), 'utf8'));
const tempDir = () => mkdtempSync(join(tmpdir(), 'mlxk-tokenizer-'));

test('tiny-kimi: tiktoken kind, BOS/EOS from its files, golden chat renderings and ids', () => {
  const tok = loadTokenizer(tinyKimi);
  assert.is(tok.kind, 'tiktoken');
  assert.is(tok.vocabSize, 4128);
  assert.is(tok.bosId, golden.tokenizer.bos);
  assert.equal(tok.eosIds, [golden.tokenizer.eos]);
  assert.ok(tok.hasChatTemplate);
  const examples = golden.tokenizer.chat_examples as Array<{ messages: ChatMessage[]; add_generation_prompt: boolean; rendered: string; ids: number[] }>;
  assert.is(examples.length, 2);
  for (const ex of examples) {
    const out = tok.applyChatTemplate(ex.messages, { addGenerationPrompt: ex.add_generation_prompt });
    assert.is(out.text, ex.rendered);
    assert.equal(out.ids, ex.ids);
  }
  const seq4 = golden.sequences.find((s: { name: string }) => s.name === 'seq4');
  assert.equal(tok.applyChatTemplate(examples[0]!.messages).ids, seq4.input_ids);
});

test('a directory without tiktoken.model or tokenizer.json', () => {
  const dir = tempDir();
  try {
    loadTokenizer(dir);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, MlxkError);
    assert.is((e as Error).message, `${dir}: no tokenizer (expected tiktoken.model or tokenizer.json)`);
  }
  assert.throws(() => loadTokenizer(join(dir, 'nope')), (e: Error) => e instanceof MlxkError && e.message === `${join(dir, 'nope')}: not a model directory`);
});

function writeBpeModel(dir: string): void {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => (vocab[c] = b));
  vocab['hi'] = 256;
  const tokenizer = {
    added_tokens: [
      { id: 257, content: '<s>', special: true, normalized: false },
      { id: 258, content: '</s>', special: true, normalized: false },
      { id: 259, content: '<|eot|>', special: true, normalized: false },
    ],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: ['h i'] },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
}

test('tokenizer.json directory: EOS from generation_config (list), config and eos_token; BOS; template sources', () => {
  const dir = tempDir();
  writeBpeModel(dir);
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: '<s>',
      eos_token: { content: '</s>' },
      chat_template: [
        { name: 'default', template: 'D{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}' },
        { name: 'tool_use', template: 'T{{ tools | length }}' },
      ],
    }),
  );
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [259, 258] }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ eos_token_id: 258, bos_token_id: 1 }));
  const tok = loadTokenizer(dir);
  assert.is(tok.kind, 'bpe');
  assert.is(tok.bosId, 257);
  assert.equal(tok.eosIds, [259, 258]);
  const msgs: ChatMessage[] = [{ role: 'user', content: 'hi' }];
  assert.equal(tok.applyChatTemplate(msgs), { text: 'D<s>hi', ids: [68, 257, 256] });
  assert.is(tok.applyChatTemplate(msgs, { tools: [{}, {}] }).text, 'T2');
  assert.throws(() => tok.applyChatTemplate(msgs, { templateName: 'rag' }), /chat template "rag" does not exist \(this model has: default, tool_use\)/);
  // chat_template.jinja replaces the default; additional_chat_templates/ adds named ones.
  writeFileSync(join(dir, 'chat_template.jinja'), 'J{{ messages | length }}');
  mkdirSync(join(dir, 'additional_chat_templates'));
  writeFileSync(join(dir, 'additional_chat_templates', 'rag.jinja'), 'R');
  const again = loadTokenizer(dir);
  assert.is(again.applyChatTemplate(msgs).text, 'J1');
  assert.is(again.applyChatTemplate(msgs, { templateName: 'rag' }).text, 'R');
});

test('no chat template: applyChatTemplate says so', () => {
  const dir = tempDir();
  writeBpeModel(dir);
  const tok = loadTokenizer(dir);
  assert.not.ok(tok.hasChatTemplate);
  assert.is(tok.bosId, undefined);
  assert.equal(tok.eosIds, []);
  assert.throws(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }]), /no chat template/);
});

test('broken files are CheckpointErrors naming the file and field', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
  assert.throws(() => loadTokenizer(dir), (e: Error) => e instanceof CheckpointError && e.message.startsWith(`${join(dir, 'tokenizer.json')}: is not readable JSON`));
  writeBpeModel(dir);
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [258, 9999] }));
  assert.throws(() => loadTokenizer(dir), (e: Error) => e instanceof CheckpointError && /generation_config\.json: eos_token_id \[258,9999\] must be a token id/.test(e.message));
  writeFileSync(join(dir, 'generation_config.json'), '{}');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<nope>' }));
  assert.throws(() => loadTokenizer(dir), /tokenizer_config\.json: eos_token "<nope>" is not a token of this tokenizer/);
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% for %}' }));
  assert.throws(() => loadTokenizer(dir), /tokenizer_config\.json: chat template does not parse/);
});

test("Kimi: tools are key-sorted when the model's tokenization_kimi.py sorts them", () => {
  const dir = tempDir();
  for (const f of ['tiktoken.model', 'tokenizer_config.json']) copyFileSync(join(tinyKimi, f), join(dir, f));
  const tools = [{ type: 'function', function: { name: 'f', description: 'd' } }];
  const msgs: ChatMessage[] = [{ role: 'user', content: 'x' }];
  const declared = (text: string) => text.slice(0, text.indexOf('<|im_end|>'));
  assert.is(declared(loadTokenizer(dir).applyChatTemplate(msgs, { tools }).text), '<|im_system|>tool_declare<|im_middle|>[{"type": "function", "function": {"name": "f", "description": "d"}}]');
  writeFileSync(join(dir, 'tokenization_kimi.py'), 'def apply_chat_template(self, conversation, tools=None):\n    tools = deep_sort_dict(tools)\n');
  assert.is(declared(loadTokenizer(dir).applyChatTemplate(msgs, { tools }).text), '<|im_system|>tool_declare<|im_middle|>[{"function": {"description": "d", "name": "f"}, "type": "function"}]');
});

test.run();

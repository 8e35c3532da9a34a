// --calib parsing shared by imatrix and quantize --method gptq|learned: plain text is the
// tokenizer's encoding of the file; chat JSONL is each conversation rendered through the
// model's template (checked against Kimi-K2's format written out by hand); windows are
// spread evenly; a set too short for the model, or a bad line, is one line naming it.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { calibrationIds, calibrationWindows, DEFAULT_CALIB, describeCalibration, openCalibration, requiredCalibrationTokens, SHIPPED_CALIB_DIR } from '../../lib/calib/calibText.js';
import { MlxkError } from '../../lib/io/errors.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import { REPO, TINY_KIMI, tmpDir } from '../helpers.js';

const tok = loadTokenizer(TINY_KIMI);
const config = JSON.parse(readFileSync(join(TINY_KIMI, 'config.json'), 'utf8'));

function oneLineError(f: () => unknown, includes: string): void {
  try {
    f();
  } catch (e) {
    assert.instance(e, MlxkError);
    const msg = (e as Error).message;
    assert.ok(msg.includes(includes), msg);
    assert.not.ok(msg.includes('\n'), msg);
    return;
  }
  assert.unreachable(`expected an error containing "${includes}"`);
}

test('plain text: the tokenizer\'s ids of the file; sha256 of its bytes', () => {
  const dir = tmpDir();
  const path = join(dir, 'c.txt');
  const text = 'Les parapluies s\'ouvrent.\nfn main() { println!("hi"); }\n';
  writeFileSync(path, text);
  const set = openCalibration(path);
  assert.is(set.sha256, createHash('sha256').update(text).digest('hex'));
  assert.equal(calibrationIds(set, tok), tok.encode(text));
});

test('chat JSONL: each conversation through the model\'s chat template, tools and tool results included', () => {
  const dir = tmpDir();
  const path = join(dir, 'c.jsonl');
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: {} } }];
  writeFileSync(path, [
    JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] }),
    '',
    JSON.stringify({ tools, messages: [{ role: 'user', content: 'w?' }, { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'cold' }] }),
  ].join('\n'));
  // Kimi-K2's chat_template.jinja, written out by hand for these two conversations.
  const first = '<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|><|im_user|>user<|im_middle|>Hi<|im_end|><|im_assistant|>assistant<|im_middle|>Hello<|im_end|>';
  const second = '<|im_system|>tool_declare<|im_middle|>[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]<|im_end|>'
    + '<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|><|im_user|>user<|im_middle|>w?<|im_end|><|im_assistant|>assistant<|im_middle|>'
    + '<|tool_calls_section_begin|><|tool_call_begin|>c1<|tool_call_argument_begin|>{"city":"Oslo"}<|tool_call_end|><|tool_calls_section_end|><|im_end|>'
    + '<|im_system|>tool<|im_middle|>## Return of c1\ncold<|im_end|>';
  const ids = calibrationIds(openCalibration(path), tok);
  assert.equal(ids, [...tok.encode(first, { special: true }), ...tok.encode(second, { special: true })]);
  assert.ok(ids.includes(tok.tokenToId('<|tool_call_begin|>')!), 'turn markers are special tokens, not their spelling');
});

test('bad JSONL lines are refused by file and line', () => {
  const dir = tmpDir();
  const path = join(dir, 'c.jsonl');
  writeFileSync(path, `${JSON.stringify({ messages: [{ role: 'user', content: 'x' }] })}\n{"prompt": "x"}\n`);
  oneLineError(() => calibrationIds(openCalibration(path), tok), 'c.jsonl:2: expected {"messages"');
  writeFileSync(path, 'not json\n');
  oneLineError(() => calibrationIds(openCalibration(path), tok), 'c.jsonl:1: not JSON');
  oneLineError(() => openCalibration(join(dir, 'absent.txt')), 'absent.txt: no such file');
});

test('default: the shipped set, both files, each sha256 in the description', () => {
  const set = openCalibration(undefined);
  assert.is(set.name, DEFAULT_CALIB);
  assert.equal(set.files.map((f) => f.path), [join(SHIPPED_CALIB_DIR, 'calib.txt'), join(SHIPPED_CALIB_DIR, 'chat.jsonl')]);
  assert.is(SHIPPED_CALIB_DIR, join(REPO, 'calib') + '/');
  const d = describeCalibration(set);
  for (const f of set.files) assert.ok(d.includes(createHash('sha256').update(readFileSync(f.path)).digest('hex')), d);
});

test('windows are spread evenly over the set', () => {
  const ids = Array.from({ length: 1050 }, (_, i) => i);
  const set = { name: 'x', files: [], sha256: '' };
  // 10 windows of 100 available, 3 wanted: windows 0, 3 and 6 (⌊j·10/3⌋).
  const w = calibrationWindows(ids, set, {}, { seqLen: 100, maxTokens: 300 });
  assert.equal(w.map((x) => [x[0], x.length]), [[0, 100], [300, 100], [600, 100]]);
  assert.is(calibrationWindows(ids, set, {}, { seqLen: 100, maxTokens: 1e6 }).length, 10);
});

test('a set too short for the model is one line saying what to do', () => {
  // tiny-kimi: 16 routed experts, 4 per token → 32·16/4 = 128 tokens, in whole windows.
  assert.equal(requiredCalibrationTokens(config, 64), { tokens: 128, why: '32 per routed expert on average: 16 experts, 4 per token, in windows of 64' });
  assert.is(requiredCalibrationTokens(config, 100).tokens, 200);
  assert.is(requiredCalibrationTokens({ hidden_size: 8 }, 100).tokens, 100);
  const set = { name: 'short.txt', files: [], sha256: '' };
  oneLineError(() => calibrationWindows(Array.from({ length: 127 }, (_, i) => i), set, config, { seqLen: 64, maxTokens: 1000 }), '--calib short.txt: 127 tokens, fewer than the 128 this model needs');
  oneLineError(() => calibrationWindows(Array.from({ length: 1000 }, (_, i) => i), set, config, { seqLen: 64, maxTokens: 100 }), '--calib-tokens 100: this model needs at least 128');
});

test.run();

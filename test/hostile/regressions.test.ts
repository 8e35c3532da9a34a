// Every broken model directory the issue 15 report found (stack traces, hangs, failures only at
// the first generated token, quantize accepting what generate rejects), as a regression case:
// each command that reads the broken file exits 2 with one line naming the file and the field,
// within seconds, and never prints a stack trace.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TINY_KIMI, tmpDir } from '../helpers.js';
import { hasStackTrace, mlxk, mutant, patchConfig, readJsonFile, writeFile } from './mutants.js';

type Verb = 'inspect' | 'plan' | 'generate' | 'quantize';
const ALL: Verb[] = ['inspect', 'plan', 'generate', 'quantize'];
const FILES: Verb[] = ['inspect', 'generate', 'quantize'];

function args(verb: Verb, dir: string): string[] {
  switch (verb) {
    case 'inspect':
      return ['inspect', dir];
    case 'plan':
      return ['plan', dir, '--bits', '4'];
    case 'generate':
      return ['generate', dir, '--prompt', 'hi', '-m', '2', '--temp', '0'];
    case 'quantize':
      return ['quantize', dir, join(tmpDir(), 'out'), '--bits', '4', '--quiet'];
  }
}

async function refused(dir: string, verbs: Verb[], expected: RegExp): Promise<void> {
  for (const verb of verbs) {
    const r = await mlxk(args(verb, dir), 30_000);
    const what = `${verb}: exit ${r.code} signal ${r.signal}${r.timedOut ? ' (timed out)' : ''}\n${r.stderr}`;
    assert.not.ok(r.timedOut, what);
    assert.not.ok(hasStackTrace(r), what);
    assert.is(r.code, 2, what);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('hint: ') && !l.startsWith('warning') && !/MLXK_NATIVE_MISSING/.test(l));
    assert.is(lines.length, 1, what);
    assert.match(lines[0]!, expected, what);
  }
}

const tokenizerConfig = () => readJsonFile(TINY_KIMI, 'tokenizer_config.json');

test('counts that would hang or overflow are refused before any loop: layers, experts', async () => {
  await refused(mutant((d) => patchConfig(d, { num_hidden_layers: 2 ** 31 - 1 })), ALL, /config\.json: "num_hidden_layers" is 2147483647; expected an integer in 1\.\.1024$/);
  await refused(mutant((d) => patchConfig(d, { n_routed_experts: 2 ** 32 })), ['inspect', 'plan'], /"n_routed_experts" is 4294967296; expected an integer in 0\.\.4096$/);
  await refused(mutant((d) => patchConfig(d, { n_routed_experts: 2 ** 31 - 1 })), ['quantize'], /"n_routed_experts" is 2147483647/);
});

test('routing settings inconsistent with the experts fail before loading, not at the first token', async () => {
  await refused(mutant((d) => patchConfig(d, { num_experts_per_tok: 17 })), ALL, /"num_experts_per_tok" 17 is more than the 16 experts \("n_routed_experts"\)$/);
  await refused(mutant((d) => patchConfig(d, { n_group: 3 })), ['plan', 'generate'], /"n_group" 3 does not divide the 16 experts/);
  await refused(mutant((d) => patchConfig(d, { topk_group: 2 })), ['inspect', 'quantize'], /"topk_group" 2 is more than "n_group" 1$/);
  await refused(mutant((d) => patchConfig(d, { n_group: 4, topk_group: 1, num_experts_per_tok: 8 })), ['generate'], /"num_experts_per_tok" 8 is more than the 4 experts in the "topk_group" 1 chosen groups$/);
});

test('index entries must be shard file names inside the directory', async () => {
  for (const file of ['', '.', '..', 'sub/model.safetensors', '../model.safetensors']) {
    const dir = mutant((d) => writeFile(d, 'model.safetensors.index.json', JSON.stringify({ weight_map: { 'lm_head.weight': file } })));
    await refused(dir, ['inspect'], /model\.safetensors\.index\.json: weight_map\["lm_head\.weight"\] must be a \*\.safetensors file name in this directory, got /);
  }
  const sub = mutant((d) => writeFile(d, 'model.safetensors.index.json', JSON.stringify({ weight_map: { 'lm_head.weight': 'x.safetensors' } })));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(sub, 'x.safetensors'));
  await refused(sub, ['generate'], /x\.safetensors: is not a file/);
});

test('tokenizer files: empty special token, empty or backtracking pat_str, absurd reserved counts', async () => {
  const decoder = tokenizerConfig().added_tokens_decoder as Record<string, { content: string }>;
  const first = Object.keys(decoder)[0]!;
  const empty = mutant((d) => writeFile(d, 'tokenizer_config.json', JSON.stringify({ ...tokenizerConfig(), added_tokens_decoder: { ...decoder, [first]: { ...decoder[first], content: '' } } })));
  await refused(empty, FILES, new RegExp(`tokenizer_config\\.json: added_tokens_decoder\\["${first}"\\]\\.content must be a non-empty string, got ""$`));
  await refused(mutant((d) => writeFile(d, 'tokenizer_config.json', JSON.stringify({ ...tokenizerConfig(), pat_str: '' }))), ['generate'], /pat_str must be a non-empty string, got ""$/);
  await refused(mutant((d) => writeFile(d, 'tokenizer_config.json', JSON.stringify({ ...tokenizerConfig(), pat_str: '(\\w+)+$' }))), ['quantize'], /pat_str has a repeated group holding a repetition/);
  await refused(mutant((d) => writeFile(d, 'tokenizer_config.json', JSON.stringify({ ...tokenizerConfig(), num_reserved_special_tokens: 1e9 }))), ['inspect', 'generate'], /num_reserved_special_tokens must be an integer in 0\.\.65536, got 1000000000$/);
});

test('chat templates: one that renders nothing, one that loops 10⁸ times (stopped by the step budget)', async () => {
  await refused(mutant((d) => writeFile(d, 'tokenizer_config.json', JSON.stringify({ ...tokenizerConfig(), chat_template: '{{ "" }}' }))), ['generate', 'quantize'], /chat template renders a conversation as nothing|made no tokens of the prompt/);
  const loop = '{% for i in range(100000000) %}{% endfor %}{{ messages[0].content }}';
  await refused(mutant((d) => writeFile(d, 'tokenizer_config.json', JSON.stringify({ ...tokenizerConfig(), chat_template: loop }))), ['generate', 'quantize'], /chat template failed: range\(\) would make 100000000 numbers; a rendering may make at most 1000000 in all$/);
});

test('generation_config.json: a bad value names that file', async () => {
  await refused(mutant((d) => patchConfig(d, { top_p: 2 }, 'generation_config.json')), ['generate', 'quantize'], /generation_config\.json: "top_p" is 2; expected a number in \(0, 1\]$/);
});

test('experts of one projection in different dtypes: named before stacking', async () => {
  const bytes = readFileSync(join(TINY_KIMI, 'model.safetensors'));
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = bytes.subarray(8, 8 + headerLen).toString('utf8');
  const name = 'model.layers.1.mlp.experts.3.up_proj.weight';
  const at = header.indexOf(`"${name}":{"dtype":"BF16"`);
  assert.ok(at >= 0);
  // Same length: "F16" plus a space of JSON whitespace.
  const patched = `${header.slice(0, at)}"${name}":{"dtype":"F16" ${header.slice(at + `"${name}":{"dtype":"BF16"`.length)}`;
  assert.is(Buffer.byteLength(patched), headerLen);
  const dir = mutant((d) => writeFile(d, 'model.safetensors', Buffer.concat([bytes.subarray(0, 8), Buffer.from(patched), bytes.subarray(8 + headerLen)])));
  await refused(dir, ['generate'], new RegExp(`tensor "${name.replace(/\./g, '\\.')}" is F16 but "model\\.layers\\.1\\.mlp\\.experts\\.0\\.up_proj\\.weight" is BF16; the experts of .* must share one dtype$`));
});

test('a shard whose header is {} (no tensors): inspect reports the missing tensors, no stack trace', async () => {
  const empty = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]);
  const dir = mutant((d) => writeFile(d, 'model.safetensors', empty));
  const r = await mlxk(['inspect', dir]);
  assert.not.ok(hasStackTrace(r), r.stderr);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /missing \d+ tensor\(s\) of the table/);
  await refused(dir, ['quantize'], /lm_head|embed_tokens|missing|no tensor/);
});

test('JSON that is not JSON (Infinity, NaN): one line naming the file, V8\'s quoted context without its newlines', async () => {
  const text = readFileSync(join(TINY_KIMI, 'config.json'), 'utf8').replace(/"beta_fast": [\d.]+/, '"beta_fast": Infinity');
  await refused(mutant((d) => writeFile(d, 'config.json', text)), ['inspect', 'plan'], /config\.json: is not valid JSON \(Unexpected token 'I', .*"ta_fast": Infinity, "\.\.\. is not valid JSON\)$/);
});

test.run();

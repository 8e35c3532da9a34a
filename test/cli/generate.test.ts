// `mlxk generate` and `mlxk chat` as a user runs them, and the README's library example;
// expected tokens are transformers' greedy goldens.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LanguageModel } from '../../lib/engine/languageModel.js';
import { readJson } from '../../lib/io/checkpoint.js';
import { Goldens } from '../models/goldenFiles.js';
import { MLXK, REPO, TINY_KIMI } from '../helpers.js';

function run(args: string[], input?: string, env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const base = { ...process.env };
  delete base.MLXK_BACKEND;
  const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8', input, env: { ...base, NO_COLOR: '1', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const mlxk = (args: string[], input?: string, env?: Record<string, string>) => run([MLXK, ...args], input, env);
/** An addon path that does not exist: what a checkout without `npm ci`'s native build looks like. */
const NO_ADDON = { MLXK_NATIVE_ADDON: join(REPO, 'build', 'missing', 'mlxk_native.node') };

const greedy = (readJson(join(TINY_KIMI, 'golden.json')).greedy as { prompt: string; prompt_ids: number[]; new_ids: number[]; new_text: string }[])[0]!;

test('generate --json: the bundled model and the native backend by default, transformers\' greedy tokens, one JSON object', () => {
  const r = mlxk(['generate', '--prompt', greedy.prompt, '--raw', '--temp', '0', '--max-tokens', '32', '--json']);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.model, TINY_KIMI.replace(/\/$/, ''));
  assert.is(j.backend, 'native');
  assert.equal(j.prompt_ids, greedy.prompt_ids);
  assert.equal(j.generated_ids, greedy.new_ids);
  assert.is(j.text, greedy.new_text);
  assert.is(j.finish_reason, 'length');
  for (const k of ['prompt_tokens_per_second', 'generation_tokens_per_second', 'time_to_first_token_seconds', 'peak_rss_bytes']) assert.ok(j.stats[k] > 0, k);
});

test('generate streams text to stdout and stats to stderr; --prompt-ids on a model without tokenizer prints ids', () => {
  const r = mlxk(['generate', '--prompt-ids', greedy.prompt_ids.join(','), '--temp', '0', '--max-tokens', '32']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, `${greedy.new_text}\n`);
  assert.match(r.stderr, /prompt: 6 tokens, [\d.]+ tokens\/s/);
  assert.match(r.stderr, /generation: 32 tokens, [\d.]+ tokens\/s, first token after \d+ ms/);
  const llama = join(REPO, 'test', 'fixtures', 'models', 'llama');
  const g = new Goldens(join(llama, 'golden.safetensors'));
  const ids = mlxk(['generate', llama, '--prompt-ids', g.ints('gen0.prompt_ids').join(','), '--temp', '0', '--max-tokens', '16']);
  assert.is(ids.code, 0, ids.stderr);
  assert.is(ids.stdout.trim(), g.ints('gen0.new_ids').join(','));
});

test('backend choice: --backend and MLXK_BACKEND pick one; without a built addon the default falls back to mlx with one warning', () => {
  const args = ['generate', '--prompt-ids', greedy.prompt_ids.join(','), '--temp', '0', '--max-tokens', '8', '--json'];
  for (const [extra, env, want] of [[['--backend', 'mlx'], {}, 'mlx'], [[], { MLXK_BACKEND: 'mlx' }, 'mlx'], [['--backend', 'native'], { MLXK_BACKEND: 'mlx' }, 'native'], [[], NO_ADDON, 'mlx']] as const) {
    const r = mlxk([...args, ...extra], undefined, env);
    assert.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.is(j.backend, want, `${extra.join(' ')} ${JSON.stringify(env)}`);
    assert.equal(j.generated_ids, greedy.new_ids.slice(0, 8), `${want}: transformers' greedy tokens`);
    if (env === NO_ADDON) assert.match(r.stderr, /^\(node:\d+\) \[MLXK_NATIVE_MISSING\] Warning: native kernels are not built .*; using the slower mlx backend — run `npm ci` to build them\n/);
    else assert.is(r.stderr, '');
  }
});

test('generate: clear one-line errors for a bad command line and a backend that cannot run', () => {
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [['generate', '--prompt-ids', '1', '--backend', 'native'], /^mlxk: native kernels are not built \(.*missing\/mlxk_native\.node is missing\)\nhint: run `npm ci`/, NO_ADDON],
    [['generate', '--prompt-ids', '1'], /^mlxk: native kernels are not built .*\nhint: run `npm ci`/, { ...NO_ADDON, MLXK_BACKEND: 'native' }],
    [['generate', '--prompt-ids', '1'], /^mlxk: MLXK_BACKEND must be one of mlx, native, got "cuda"/, { MLXK_BACKEND: 'cuda' }],
    [['generate', '--prompt', 'a', '--prompt-ids', '1'], /^mlxk: give the prompt as --prompt TEXT or --prompt-ids 1,2,3 \(one of them\)/],
    [['generate'], /^mlxk: give the prompt as --prompt TEXT or --prompt-ids/],
    [['generate', '--prompt-ids', '1,x'], /^mlxk: --prompt-ids must be comma-separated token ids, got "1,x"/],
    [['generate', '--prompt-ids', '4096,99999'], /^mlxk: token id 99999 is outside the model's vocabulary \(0\.\.4127\)/],
    [['generate', '--prompt-ids', '1', '--top-p', '2'], /^mlxk: top_p must be in \(0, 1\], got 2/],
    [['generate', '--prompt-ids', '1', '--backend', 'cuda'], /^mlxk: --backend must be one of mlx, native, got "cuda"/],
    [['generate', join(REPO, 'test', 'fixtures', 'models', 'llama'), '--prompt', 'hi'], /no tokenizer \(expected tiktoken\.model or tokenizer\.json\)/],
    [['generate', '/nonexistent/model', '--prompt', 'hi'], /^mlxk: \/nonexistent\/model: no such directory/],
    [['generate', join(REPO, 'test', 'fixtures', 'models', 'deepseek_v3'), '--prompt-ids', Array.from({ length: 300 }, (_, i) => i).join(',')], /^mlxk: 300 tokens do not fit the model's context of 256 \(max_position_embeddings\)\nhint: shorten the prompt/],
  ];
  for (const [args, err, env] of cases) {
    const r = mlxk(args, undefined, env);
    // A model directory with broken or missing files exits 2 (lib/cli/errors.ts); usage errors 1.
    assert.is(r.code, /no tokenizer/.test(err.source) ? 2 : 1, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, err);
  }
});

test('chat: piped turns are answered in order, the second with the first in context', async () => {
  const r = mlxk(['chat', '--temp', '0', '--max-tokens', '12'], 'What is a tuple?\nAnd a list?\n');
  assert.is(r.code, 0, r.stderr);
  const lm = await LanguageModel.load(TINY_KIMI);
  const first = await lm.generate({ messages: [{ role: 'user', content: 'What is a tuple?' }] }, { temperature: 0, maxTokens: 12 });
  const second = await lm.generate({ messages: [{ role: 'user', content: 'What is a tuple?' }, { role: 'assistant', content: first.text }, { role: 'user', content: 'And a list?' }] }, { temperature: 0, maxTokens: 12 });
  assert.is(r.stdout, `${first.text}\n${second.text}\n`);
});

test('the README library example runs', () => {
  const r = run([join(REPO, 'examples', 'generate.mjs')]);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.is(JSON.parse(lines[0]!), greedy.new_text);
  assert.match(r.stdout, /\[(length|stop)\] \d+ tokens, [\d.]+ tokens\/s/);
});

test.run();

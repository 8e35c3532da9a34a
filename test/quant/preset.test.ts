import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readJson } from '../../lib/io/checkpoint.js';
import { MlxkError } from '../../lib/io/errors.js';
import { ggufName } from '../../lib/models/ggufNames.js';
import { knownConfigPath } from '../../lib/models/known.js';
import { tensorTable } from '../../lib/models/registry.js';
import { planQuantization } from '../../lib/quant/plan.js';
import { builtinPresetNames, ggmlTypeToAction, loadPreset, mlxMoreBits, parseCustomQ, parsePreset } from '../../lib/quant/preset.js';
import { synthDefaultConfig } from '../../lib/models/synthDefaults.js';
import { tmpDir } from '../helpers.js';

test('every built-in preset parses and plans on every shipped config', () => {
  const names = builtinPresetNames();
  for (const expected of ['mixed_2_6', 'mixed_3_4', 'mixed_3_6', 'mixed_4_6', 'q2', 'q3', 'q4', 'q5', 'q6', 'q8', 'kimi-k2.5-2.5bit', 'kimi-k2.5-2.8bit', 'kimi-k2.5-3.5bit', 'deepseek-v3-4bit', 'qwen3-235b-a22b-6bit']) {
    assert.ok(names.includes(expected), `missing preset ${expected}`);
  }
  for (const name of ['mixed_3_6', 'q4', 'q8']) {
    for (const model of ['kimi-k2.5', 'deepseek-v3', 'qwen3-235b-a22b']) {
      const plan = planQuantization(tensorTable(readJson(knownConfigPath(model)!)), loadPreset(name));
      assert.ok(plan.bytes > 0);
    }
  }
});

test("mixed recipes follow mlx-lm's use_more_bits rule, computed by hand for 36 layers", () => {
  // L=36: L//8 = 4, 7L//8 = 31 → layers 0-3, 31-35, and (i-4)%3==2 → 6, 9, …, 30.
  const expected = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31, 32, 33, 34, 35];
  assert.equal(Array.from({ length: 36 }, (_, i) => i).filter((i) => mlxMoreBits(i, 36)), expected);
  const cfg = { ...synthDefaultConfig('qwen3')!, num_hidden_layers: 36, tie_word_embeddings: false };
  const plan = planQuantization(tensorTable(cfg), loadPreset('mixed_3_6'));
  const bits = (m: string) => plan.modules.find((x) => x.module === m)!.quant!.bits;
  for (let l = 0; l < 36; l++) {
    const high = expected.includes(l) ? 6 : 3;
    assert.is(bits(`model.layers.${l}.self_attn.v_proj`), high, `v_proj ${l}`);
    assert.is(bits(`model.layers.${l}.mlp.down_proj`), high, `down_proj ${l}`);
    assert.is(bits(`model.layers.${l}.self_attn.q_proj`), 3);
    assert.is(bits(`model.layers.${l}.mlp.gate_proj`), 3);
  }
  assert.is(bits('lm_head'), 6);
  assert.is(bits('model.embed_tokens'), 3);
});

test('llama.cpp custom-q: GGUF names and quant types map onto our modules; first match wins', () => {
  assert.is(ggufName('model.layers.7.mlp.switch_mlp.down_proj'), 'blk.7.ffn_down_exps.weight');
  assert.is(ggufName('language_model.model.layers.2.self_attn.q_a_proj'), 'blk.2.attn_q_a.weight');
  assert.is(ggufName('model.layers.3.mlp.shared_experts.up_proj'), 'blk.3.ffn_up_shexp.weight');
  assert.is(ggufName('lm_head'), 'output.weight');
  assert.is(ggufName('model.embed_tokens'), 'token_embd.weight');
  assert.equal(ggmlTypeToAction('q4_K', 'x'), { bits: 4, groupSize: 64, method: 'rtn' });
  assert.equal(ggmlTypeToAction('IQ2_XXS', 'x'), { bits: 2, groupSize: 64, method: 'rtn' });
  assert.equal(ggmlTypeToAction('q8_0', 'x'), { bits: 8, groupSize: 64, method: 'rtn' });
  assert.equal(ggmlTypeToAction('bf16', 'x'), { keep: true });
  assert.throws(() => ggmlTypeToAction('tq1_0x', 'x'), /no MLX equivalent/);
  const rules = parseCustomQ('# experts\nblk\\.[0-2]\\.ffn_down_exps=q6_K\nffn_(gate|up|down)_exps=iq2_xxs, attn_.*=q8_0\ntoken_embd=bf16', 'recipe.txt');
  const cfg = { ...synthDefaultConfig('kimi_k2')!, num_hidden_layers: 5 };
  const plan = planQuantization(tensorTable(cfg), loadPreset('q4'), rules);
  const get = (m: string) => plan.modules.find((x) => x.module === m)!;
  assert.is(get('model.layers.1.mlp.switch_mlp.down_proj').quant!.bits, 6);
  assert.is(get('model.layers.3.mlp.switch_mlp.down_proj').quant!.bits, 2);
  assert.is(get('model.layers.3.mlp.switch_mlp.up_proj').quant!.bits, 2);
  assert.is(get('model.layers.0.self_attn.o_proj').quant!.bits, 8);
  assert.is(get('model.embed_tokens').quant, null);
  assert.is(get('model.layers.1.mlp.shared_experts.down_proj').quant!.bits, 4, 'unmatched modules fall through to the preset');
});

test('invalid presets fail with the file, the rule and what is expected', () => {
  const cases: [unknown, RegExp][] = [
    [{ default: { bits: 7 } }, /default: bits 7 is not supported \(expected one of 2, 3, 4, 5, 6, 8/],
    [{ default: { bits: 4, group_size: 48 } }, /group_size 48 is not supported/],
    [{ default: { bits: 4 }, rules: [{ pattern: '(unclosed', bits: 4 }] }, /rules\[0\]\.pattern: invalid regular expression "\(unclosed"/],
    [{ default: { bits: 4 }, rules: [{ role: 'mlp', bits: 4 }] }, /role "mlp" is not one of/],
    [{ default: { bits: 4 }, rules: [{ pattern: 'x', bitz: 4 }] }, /unknown key "bitz"/],
    [{ default: { bits: 4 }, rules: [{ bits: 4 }] }, /needs "pattern", "role" or "layers"/],
    [{ default: { bits: 4 }, rules: [{ pattern: 'x', method: 'awq' }] }, /method "awq" is not supported \(expected one of rtn, mse, wmse, gptq, learned\)/],
    [{ default: { bits: 4 }, rules: [{ layers: 'middle', bits: 4 }] }, /layers "middle" is not/],
    [{ rules: [] }, /"default" must be an object/],
  ];
  for (const [json, re] of cases) {
    assert.throws(() => parsePreset(json, 'my.json'), (e: unknown) => e instanceof MlxkError && re.test((e as Error).message) && (e as Error).message.startsWith('my.json'), re.source);
  }
  const p = parsePreset({ default: { bits: 4 }, rules: [{ pattern: 'no_such_module', bits: 8 }] }, 'my.json');
  assert.throws(() => planQuantization(tensorTable(synthDefaultConfig('llama')!), p), /my\.json rules\[0\] matches no quantizable module of this llama model/);
  assert.throws(() => loadPreset('no-such-preset'), /neither a built-in preset nor a file/);
  const dir = tmpDir();
  writeFileSync(join(dir, 'bad.json'), '{ nope');
  assert.throws(() => loadPreset(join(dir, 'bad.json')), /bad\.json: not valid JSON/);
});

test('routers, norms and modules whose last dim is not a multiple of the group size are never quantized', () => {
  const plan = planQuantization(tensorTable(readJson(knownConfigPath('qwen3-235b-a22b')!)), loadPreset('q2'));
  for (const m of plan.modules) {
    if (m.role === 'router' || m.role === 'norm') assert.is(m.quant, null, m.module);
  }
  const tiny = planQuantization(tensorTable(synthDefaultConfig('kimi_k2')!), loadPreset('q4'));
  const qb = tiny.modules.find((m) => m.module === 'model.layers.0.self_attn.q_b_proj')!;
  assert.is(qb.quant, null, 'q_b_proj has in-dim 96, not a multiple of 64');
  assert.match(qb.reason, /96 is not a multiple of group size 64/);
  assert.not.ok('model.layers.0.self_attn.q_b_proj' in tiny.quantizationConfig, 'kept modules are not listed, as mlx-lm does');
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readJson } from '../../lib/io/checkpoint.js';
import { knownConfigPath } from '../../lib/models/known.js';
import { tensorTable } from '../../lib/models/registry.js';
import { defaultReserve, fitReport } from '../../lib/quant/fit.js';
import { planQuantization } from '../../lib/quant/plan.js';
import { loadPreset, uniformPreset } from '../../lib/quant/preset.js';

const GiB = 2 ** 30;
const cfg = (name: string) => readJson(knownConfigPath(name)!);

test('Kimi parameter counts equal the hand computation in the Kimi reference (K2 text, K2.5 with vision)', () => {
  const k2 = planQuantization(tensorTable(cfg('kimi-k2-instruct')), uniformPreset(4, 64));
  assert.is(k2.params, 1_026_408_232_448);
  const k25 = planQuantization(tensorTable(cfg('kimi-k2.5')), uniformPreset(4, 64));
  assert.is(k25.params, 1_026_879_376_368);
  assert.is(k25.byRole.get('vision')!.params, 416_866_032 + 54_277_888);
  assert.is(k25.byRole.get('expert')!.params, 1_014_686_023_680);
});

test('bytes by hand: uniform 4-bit g64 stores 4 + 2·16/64 = 4.5 bits per quantized weight, bf16 elsewhere', () => {
  const plan = planQuantization(tensorTable(cfg('kimi-k2-instruct')), uniformPreset(4, 64));
  const experts = plan.byRole.get('expert')!;
  assert.is(experts.bytes, (experts.params * 4.5) / 8);
  const router = plan.byRole.get('router')!;
  // gate weight bf16 + e_score_correction_bias f32: 60 × (384·7168·2 + 384·4)
  assert.is(router.bytes, 60 * (384 * 7168 * 2 + 384 * 4));
});

test('kimi-k2.5-2.5bit plans about 350 GB and fits a 512 GB Mac with a 128K context', () => {
  const plan = planQuantization(tensorTable(cfg('kimi-k2.5')), loadPreset('kimi-k2.5-2.5bit'));
  assert.ok(plan.bytes > 340e9 && plan.bytes < 360e9, `${plan.bytes / 1e9} GB`);
  const fit = fitReport(plan, { memoryBytes: 512 * GiB, context: 131072 });
  assert.ok(fit.fits);
  assert.not.ok(fit.needsWiredLimit);
  const big = fitReport(planQuantization(tensorTable(cfg('kimi-k2.5')), loadPreset('q8')), { memoryBytes: 512 * GiB, context: 131072 });
  assert.not.ok(big.fits, '8-bit Kimi (≈1.1 TB) does not fit');
});

test('KV cache and wired-limit arithmetic by hand', () => {
  const plan = planQuantization(tensorTable(cfg('kimi-k2.5')), loadPreset('kimi-k2.5-3.5bit'));
  const fit = fitReport(plan, { memoryBytes: 512 * GiB, context: 131072 });
  assert.is(fit.kvBytesPerToken, 61 * (512 + 64) * 2);
  assert.is(fit.kvBytes, 70_272 * 131072);
  assert.is(fit.reserveBytes, 24 * GiB);
  assert.is(fit.defaultWiredLimitBytes, 384 * GiB);
  assert.ok(fit.needsWiredLimit, '≈470 GB of GPU memory is above the 384 GiB default');
  assert.is(fit.wiredLimitMb, (512 - 24) * 1024);
  assert.is(defaultReserve(64 * GiB), 4 * GiB);
  const qwen = planQuantization(tensorTable(cfg('qwen3-235b-a22b')), uniformPreset(4, 64));
  assert.is(fitReport(qwen, { memoryBytes: 512 * GiB, context: 1000 }).kvBytesPerToken, 94 * 2 * 4 * 128 * 2);
});

test.run();

// Shared by the mlx-lm compatibility tests: where mlx-lm is, the Python driver, and the agreement bar.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { NativeOps } from '../../lib/backend/native/ops.js';
import type { Ops } from '../../lib/backend/ops.js';
import { readJson } from '../../lib/io/checkpoint.js';
import { loadModel } from '../../lib/models/load.js';
import { REPO, TINY_KIMI } from '../helpers.js';
import { argmaxRow, compareLogits, Goldens } from '../models/goldenFiles.js';
import { mlxLmEnv } from './env.js';

export const env = mlxLmEnv();
const goldens = new Goldens(join(TINY_KIMI, 'golden.safetensors'));
/** 48 positions of the golden sequences, one after another. */
export const IDS = [0, 1, 2, 3, 4].flatMap((i) => goldens.ints(`seq${i}.input_ids`)).slice(0, 48);

export function python(req: unknown): { results: { ok: boolean; error?: string; trace?: string; shape?: number[] }[]; mlx: string } {
  const r = spawnSync(env.python!, [join(REPO, 'test', 'compat', 'mlx_lm_compat.py')], { input: JSON.stringify(req), encoding: 'utf8', env: env.env, maxBuffer: 1 << 26 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function mlxkLogits(dir: string, ops: Ops, ids: number[]): Promise<Float32Array> {
  const { model } = await loadModel(dir, ops);
  return ops.read(model.forward(ids, model.newCache(), { allLogits: true }));
}

export function quantKey(dir: string): string {
  const cfg = readJson(join(dir, 'config.json'));
  const q = cfg.quantization ?? (cfg.text_config as Record<string, unknown> | undefined)?.quantization;
  return q ? `config.json quantization ${JSON.stringify(q).slice(0, 400)}` : 'config.json: no quantization';
}

/** Both mlxk backends against mlx-lm's logits of the same checkpoint; the messages name the case. */
export async function agree(name: string, dir: string, theirs: Float32Array, ids: number[], vocab: number): Promise<string> {
  const mlx = compareLogits(await mlxkLogits(dir, new MlxOps(), ids), theirs, vocab);
  const nat = await mlxkLogits(dir, new NativeOps({ activationBits: 16 }), ids);
  let top1 = 0;
  for (let r = 0; r < ids.length; r++) if (argmaxRow(nat, r, vocab) === argmaxRow(theirs, r, vocab)) top1++;
  const line = `${name}: mlx backend rel ${mlx.rel.toExponential(2)}, top-1 ${mlx.top1}/${mlx.positions}; native top-1 ${top1}/${ids.length}`;
  assert.ok(mlx.rel <= 1e-4 && top1 >= 0.95 * ids.length, `${line}\n  ${quantKey(dir)}`);
  return line;
}


// The other direction of mlxLm.test.ts: checkpoints mlx-lm's own quantizer writes (q2–q8 at group
// 64, its mixed recipes) load in mlxk, and mlxk's logits on both backends agree with mlx-lm's own
// logits of the same checkpoint, with the bounds of mlxLm.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tmpDir, TINY_KIMI } from '../helpers.js';
import { agree, env, IDS, python } from './shared.js';

const VOCAB = 4128;
const work = tmpDir('mlxk-compat-convert-');

/** mlx-lm's quantizer: uniform widths (group 64) and its mixed recipes. */
const MLX_LM_WRITES = [...[2, 3, 4, 5, 6, 8].map((b) => ({ name: `mlx_lm q${b}`, bits: b, recipe: null as string | null })), ...['mixed_2_6', 'mixed_3_4', 'mixed_3_6', 'mixed_4_6'].map((r) => ({ name: `mlx_lm ${r}`, bits: 4, recipe: r }))];

test('checkpoints mlx-lm writes (q2–q8, mixed recipes) load in mlxk with the same agreement', async () => {
  if (!env.python) {
    console.log(`  NOT RUN: ${env.reason}`);
    return;
  }
  const jobs = MLX_LM_WRITES.map((c, i) => ({ model: TINY_KIMI, out: join(work, `theirs-ckpt-${i}`), bits: c.bits, group_size: 64, recipe: c.recipe }));
  const written = python({ op: 'convert', jobs });
  written.results.forEach((r, i) => assert.ok(r.ok, `${MLX_LM_WRITES[i]!.name}: ${r.error}\n${r.trace}`));
  const logitJobs = jobs.map((j, i) => ({ model: j.out, ids: IDS, out: join(work, `theirs-ckpt-${i}.f32`) }));
  const { results } = python({ op: 'logits', jobs: logitJobs });
  const lines: string[] = [];
  for (const [i, r] of results.entries()) {
    assert.ok(r.ok, `${MLX_LM_WRITES[i]!.name}: ${r.error}`);
    const buf = readFileSync(logitJobs[i]!.out);
    lines.push(await agree(MLX_LM_WRITES[i]!.name, jobs[i]!.out, new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), IDS, VOCAB));
  }
  console.log(`    ${lines.join('\n    ')}`);
});

test.run();

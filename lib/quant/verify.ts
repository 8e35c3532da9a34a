// The last step of a conversion: re-open the output as a reader would and
// check every tensor against the plan (and so against the architecture table).
import { Checkpoint } from '../io/checkpoint.js';
import { CheckpointError } from '../io/errors.js';
import type { QuantPlan } from './plan.js';

export function verifyOutput(dst: string, plan: QuantPlan): void {
  const out = Checkpoint.open(dst);
  try {
    const expected = new Map(plan.tensors.map((t) => [t.name, t]));
    for (const t of plan.tensors) {
      if (!out.has(t.name)) throw new CheckpointError(dst, `output lacks tensor "${t.name}"`);
      const got = out.info(t.name);
      if (got.dtype !== t.dtype || got.shape.join(',') !== t.shape.join(',')) {
        throw new CheckpointError(got.file, `tensor "${t.name}" is ${got.dtype}[${got.shape}], planned ${t.dtype}[${t.shape}]`);
      }
    }
    for (const name of out.tensors.keys()) if (!expected.has(name)) throw new CheckpointError(dst, `output has unplanned tensor "${name}"`);
    for (const e of plan.table.entries) if (!out.has(e.name)) throw new CheckpointError(dst, `output lacks "${e.name}" of the ${plan.table.modelType} table`);
    const q = out.config.quantization as Record<string, unknown> | undefined;
    const anyQuantized = plan.modules.some((m) => m.quant);
    if (anyQuantized !== (q !== undefined)) throw new CheckpointError(dst, `config.json quantization ${q ? 'present' : 'missing'} but ${anyQuantized ? 'some' : 'no'} modules are quantized`);
  } finally {
    out.close();
  }
}

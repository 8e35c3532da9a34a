// Before anything is written: every tensor the table needs must be in the
// source with the right shape, and every source tensor must be used (or be one
// the architecture deliberately drops), so a wrong or mismatched checkpoint is
// refused up front with the tensor named.
import type { Checkpoint } from '../io/checkpoint.js';
import { CheckpointError } from '../io/errors.js';
import type { ModelTable } from '../models/table.js';
import { openEntry } from './entrySource.js';

/** Tensors stored beside a logical `X.weight` by the source formats mlxk reads. */
const AUX_SUFFIXES = ['weight_scale_inv', 'weight_packed', 'weight_scale', 'weight_shape', 'weight_global_scale', 'weight_zero_point', 'input_global_scale', 'input_scale', 'scales', 'biases'];

function sourceNames(e: ModelTable['entries'][number]): string[] {
  const s = e.source;
  return s.kind === 'tensor' ? [s.name] : s.kind === 'stack' ? s.names : [s.name];
}

export function checkSourceCoverage(ckpt: Checkpoint, table: ModelTable): void {
  const used = new Set<string>();
  for (const e of table.entries) {
    openEntry(ckpt, e);
    for (const n of sourceNames(e)) {
      used.add(n);
      const base = n.endsWith('.weight') ? n.slice(0, -'.weight'.length) : null;
      if (base) for (const suffix of AUX_SUFFIXES) used.add(`${base}.${suffix}`);
    }
  }
  const extra = [...ckpt.tensors.keys()].filter((n) => !used.has(n) && !table.dropsSource(n));
  if (extra.length > 0) {
    const sample = extra.slice(0, 3).map((n) => `"${n}"`).join(', ');
    throw new CheckpointError(ckpt.dir, `${extra.length} tensor(s) are not part of the ${table.modelType} layout mlxk knows (e.g. ${sample}); config.json and weights disagree`);
  }
}

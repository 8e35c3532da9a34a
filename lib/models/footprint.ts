// The memory a model's weights take on each backend, from the checkpoint's headers alone (nothing
// is read): `stored` is the tensors as written — what the native backend maps and what mlx-lm
// (MLX ≥ 0.26 holds every width natively) loads; `mlx` is what the mlx backend builds from them
// (lib/backend/mlx/footprint.ts). Walks the same tensor table loadWeights walks.
import { type BackendName } from '../backend/index.js';
import { mlxResidentBytes, type StoredWeight } from '../backend/mlx/footprint.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { DTYPE_BYTES } from '../io/dtype.js';
import { elementCount } from '../io/safetensors.js';
import { tensorTable } from './registry.js';
import type { Source, TensorEntry } from './table.js';

export type Footprint = 'stored' | 'mlx';

export function footprintOf(backend: BackendName): Footprint {
  return backend === 'mlx' ? 'mlx' : 'stored';
}

/** Resident weight bytes of the checkpoint's text model (the vision tower is not loaded). */
export function residentWeightBytes(ckpt: Checkpoint, footprint: Footprint): number {
  const table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
  let total = 0;
  for (const e of table.entries) {
    if (e.role === 'vision') continue;
    const stored = storedWeight(ckpt, e);
    if (stored === null) continue; // missing: loadWeights names it
    total += footprint === 'mlx' ? mlxResidentBytes(stored.weight) : stored.bytes;
  }
  return total;
}

function storedWeight(ckpt: Checkpoint, e: TensorEntry): { weight: StoredWeight; bytes: number } | null {
  const elements = elementCount(e.shape);
  if (ckpt.has(e.name) && ckpt.has(`${e.module}.scales`) && ckpt.has(`${e.module}.biases`)) {
    const w = ckpt.info(e.name);
    const s = ckpt.info(`${e.module}.scales`);
    const b = ckpt.info(`${e.module}.biases`);
    const cols = e.shape[e.shape.length - 1]!;
    const groups = s.shape[s.shape.length - 1]!;
    const bits = (w.shape[w.shape.length - 1]! * 32) / cols;
    const bytes = w.end - w.start + (s.end - s.start) + (b.end - b.start);
    return { weight: { kind: 'affine', rows: elements / cols, cols, bits, groupSize: cols / groups, scaleBytes: DTYPE_BYTES[s.dtype] }, bytes };
  }
  const name = ckpt.has(e.name) ? e.name : firstSource(e.source);
  if (name === null || !ckpt.has(name)) return null;
  return { weight: { kind: 'dense', elements }, bytes: elements * DTYPE_BYTES[ckpt.info(name).dtype] };
}

function firstSource(src: Source): string | null {
  return src.kind === 'stack' ? (src.names[0] ?? null) : src.name;
}

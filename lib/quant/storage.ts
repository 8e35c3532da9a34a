// How a checkpoint stores each tensor of its architecture table, from the
// safetensors headers alone (no tensor data is read): used by `mlxk inspect`.
import type { Checkpoint } from '../io/checkpoint.js';
import type { TensorEntry } from '../models/table.js';

export interface Storage {
  /** "4-bit g64", "BF16", "F8_E4M3 128×128 blocks", "INT4 g32", "NVFP4". */
  label: string;
  bits: number | null;
  groupSize: number | null;
  bytes: number;
}

function bytesOf(ckpt: Checkpoint, names: string[]): number {
  return names.reduce((a, n) => a + (ckpt.has(n) ? ckpt.info(n).end - ckpt.info(n).start : 0), 0);
}

function describeOne(ckpt: Checkpoint, name: string, cols: number): Storage | null {
  const base = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : null;
  if (ckpt.has(name)) {
    const t = ckpt.info(name);
    if (t.dtype === 'U32' && base && ckpt.has(`${base}.scales`)) {
      const bits = (t.shape[t.shape.length - 1]! * 32) / cols;
      const s = ckpt.info(`${base}.scales`);
      const gs = cols / s.shape[s.shape.length - 1]!;
      return { label: `${bits}-bit g${gs}`, bits, groupSize: gs, bytes: bytesOf(ckpt, [name, `${base}.scales`, `${base}.biases`]) };
    }
    if (t.dtype === 'F8_E4M3' && base && ckpt.has(`${base}.weight_scale_inv`)) return { label: 'FP8 E4M3 + block scales', bits: 8, groupSize: null, bytes: bytesOf(ckpt, [name, `${base}.weight_scale_inv`]) };
    return { label: t.dtype, bits: null, groupSize: null, bytes: t.end - t.start };
  }
  if (base && ckpt.has(`${base}.weight_packed`)) {
    const aux = ['weight_packed', 'weight_scale', 'weight_shape', 'weight_global_scale', 'weight_zero_point', 'input_global_scale'].map((s) => `${base}.${s}`);
    if (ckpt.has(`${base}.weight_global_scale`)) return { label: 'NVFP4', bits: 4, groupSize: 16, bytes: bytesOf(ckpt, aux) };
    const s = ckpt.has(`${base}.weight_scale`) ? ckpt.info(`${base}.weight_scale`) : null;
    const gs = s ? cols / s.shape[s.shape.length - 1]! : null;
    return { label: `INT4${gs ? ` g${gs}` : ''} (compressed-tensors)`, bits: 4, groupSize: gs, bytes: bytesOf(ckpt, aux) };
  }
  return null;
}

/** Storage of one table entry, or null when the checkpoint lacks it. */
export function describeEntry(ckpt: Checkpoint, e: TensorEntry): Storage | null {
  const cols = e.shape[e.shape.length - 1] ?? 1;
  const src = e.source;
  // Either already in MLX layout (our name), or in the source layout the entry maps from.
  const own = describeOne(ckpt, e.name, cols);
  if (own) return own;
  if (src.kind === 'tensor') return null;
  if (src.kind === 'kv_b') {
    const kv = describeOne(ckpt, src.name, src.rank);
    return kv ? { ...kv, bytes: kv.bytes / 2 } : null;
  }
  const parts = src.names.map((n) => describeOne(ckpt, n, cols));
  if (parts.some((p) => p === null)) return null;
  return { ...parts[0]!, bytes: parts.reduce((a, p) => a + p!.bytes, 0) };
}

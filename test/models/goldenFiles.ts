// Reading transformers' golden outputs (golden.safetensors: I32 ids, F32 logits) and
// comparing logits with them.
import { SafetensorsFile } from '../../lib/io/safetensors.js';

export class Goldens {
  private readonly file: SafetensorsFile;

  constructor(path: string) {
    this.file = SafetensorsFile.open(path);
  }

  has(name: string): boolean {
    return this.file.tensors.has(name);
  }

  shape(name: string): number[] {
    return this.file.info(name).shape;
  }

  ints(name: string): number[] {
    const b = this.file.read(name);
    return Array.from(new Int32Array(b.buffer, b.byteOffset, b.length / 4));
  }

  floats(name: string): Float32Array {
    const b = this.file.read(name);
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice();
  }
}

export interface LogitComparison {
  /** max |ours − golden| over the whole sequence */
  maxAbs: number;
  /** maxAbs / max |golden|: the relative error the tests bound */
  rel: number;
  /** positions whose argmax agrees */
  top1: number;
  positions: number;
}

export function argmaxRow(v: Float32Array, row: number, vocab: number): number {
  let best = row * vocab;
  for (let i = row * vocab + 1; i < (row + 1) * vocab; i++) if (v[i]! > v[best]!) best = i;
  return best - row * vocab;
}

export function compareLogits(ours: Float32Array, golden: Float32Array, vocab: number): LogitComparison {
  if (ours.length !== golden.length) throw new Error(`logits hold ${ours.length} values, golden ${golden.length}`);
  let maxAbs = 0;
  let maxGold = 0;
  for (let i = 0; i < ours.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ours[i]! - golden[i]!));
    maxGold = Math.max(maxGold, Math.abs(golden[i]!));
  }
  const positions = ours.length / vocab;
  let top1 = 0;
  for (let r = 0; r < positions; r++) if (argmaxRow(ours, r, vocab) === argmaxRow(golden, r, vocab)) top1++;
  return { maxAbs, rel: maxAbs / maxGold, top1, positions };
}

/** Mean over positions of KL(golden ‖ ours) of the softmax distributions, in nats. */
export function meanKl(ours: Float32Array, golden: Float32Array, vocab: number): number {
  const positions = ours.length / vocab;
  let total = 0;
  for (let r = 0; r < positions; r++) {
    const lse = (v: Float32Array) => {
      let m = -Infinity;
      for (let i = r * vocab; i < (r + 1) * vocab; i++) m = Math.max(m, v[i]!);
      let s = 0;
      for (let i = r * vocab; i < (r + 1) * vocab; i++) s += Math.exp(v[i]! - m);
      return m + Math.log(s);
    };
    const [lp, lq] = [lse(golden), lse(ours)];
    for (let i = r * vocab; i < (r + 1) * vocab; i++) {
      const logP = golden[i]! - lp;
      total += Math.exp(logP) * (logP - (ours[i]! - lq));
    }
  }
  return total / positions;
}

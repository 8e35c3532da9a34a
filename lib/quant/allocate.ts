// Bit allocation under a size budget: each unit (a group of modules quantized alike)
// picks one storage option; the total estimated loss (a sum of per-unit losses, as
// one-at-a-time sensitivities add up to within ~10 % of the joint loss) is minimised
// subject to the total bytes. Greedy on each unit's lower convex hull of (bytes, loss),
// steps taken in order of loss saved per byte: the Lagrangian solution for the budget.
// The answer for a budget is the longest prefix of that one ordered list that fits, so a
// larger budget never gives a larger loss or a smaller size, and the bytes left unused
// are fewer than the next step needs (one module's difference between two options).
// Plain inputs only: sizes and losses in, one option index per unit out.
import { MlxkError } from '../io/errors.js';

export interface OptionCost {
  /** Bytes the unit occupies with this option. */
  bytes: number;
  /** Estimated loss (KL in nats per token, or any additive unit) with this option. */
  loss: number;
}

export interface AllocUnit {
  id: string;
  options: OptionCost[];
}

export interface Allocation {
  /** Index into each unit's options. */
  choice: number[];
  bytes: number;
  loss: number;
}

interface Step {
  unit: number;
  from: number;
  to: number;
  bytes: number;
  gain: number;
  order: number;
}

/** Indices of the lower convex hull of a unit's options, from its smallest to its least lossy. */
export function lowerHull(options: readonly OptionCost[]): number[] {
  if (options.length === 0) return [];
  const idx = options.map((_, i) => i).filter((i) => Number.isFinite(options[i]!.bytes) && Number.isFinite(options[i]!.loss));
  idx.sort((a, b) => options[a]!.bytes - options[b]!.bytes || options[a]!.loss - options[b]!.loss || a - b);
  // Pareto front: each next point strictly smaller in loss.
  const front: number[] = [];
  for (const i of idx) {
    const last = front[front.length - 1];
    if (last === undefined) front.push(i);
    else if (options[i]!.bytes > options[last]!.bytes && options[i]!.loss < options[last]!.loss) front.push(i);
  }
  // Convexity: loss saved per byte must fall along the hull (drop points above a chord).
  const hull: number[] = [];
  for (const i of front) {
    while (hull.length >= 2) {
      const a = options[hull[hull.length - 2]!]!;
      const b = options[hull[hull.length - 1]!]!;
      const c = options[i]!;
      // b lies on or above the chord a→c: cross product of (b−a, c−a) ≤ 0 in (bytes, loss).
      if ((b.bytes - a.bytes) * (c.loss - a.loss) - (b.loss - a.loss) * (c.bytes - a.bytes) <= 0) hull.pop();
      else break;
    }
    hull.push(i);
  }
  return hull;
}

/** The smallest total the units can reach (each at its smallest option). */
export function smallestBytes(units: readonly AllocUnit[]): number {
  return units.reduce((a, u) => a + Math.min(...u.options.map((o) => o.bytes)), 0);
}

/** The allocation for `budget` bytes (units only; subtract fixed bytes first). Throws when even the smallest options exceed it. */
export function allocate(units: readonly AllocUnit[], budget: number): Allocation {
  const hulls = units.map((u, i) => {
    const h = lowerHull(u.options);
    if (h.length === 0) throw new Error(`allocation unit "${u.id}" (${i}) has no option with a finite size and loss`);
    return h;
  });
  const choice = hulls.map((h) => h[0]!);
  let bytes = choice.reduce((a, c, i) => a + units[i]!.options[c]!.bytes, 0);
  let loss = choice.reduce((a, c, i) => a + units[i]!.options[c]!.loss, 0);
  if (bytes > budget) throw new MlxkError(`budget ${budget} bytes is below the smallest reachable size, ${bytes} bytes`);
  const steps: Step[] = [];
  let order = 0;
  hulls.forEach((h, u) => {
    for (let k = 1; k < h.length; k++) {
      const a = units[u]!.options[h[k - 1]!]!;
      const b = units[u]!.options[h[k]!]!;
      steps.push({ unit: u, from: h[k - 1]!, to: h[k]!, bytes: b.bytes - a.bytes, gain: a.loss - b.loss, order: order++ });
    }
  });
  // Along one hull gains per byte fall, so this order keeps each unit's steps in sequence
  // (equal ratios keep their original order, which is the hull order within a unit).
  steps.sort((x, y) => y.gain * x.bytes - x.gain * y.bytes || x.order - y.order);
  for (const s of steps) {
    if (bytes + s.bytes > budget) break;
    choice[s.unit] = s.to;
    bytes += s.bytes;
    loss -= s.gain;
  }
  return { choice, bytes, loss };
}

// Summaries of repeated measurements and of per-token losses.

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many values it summarises. */
  n: number;
}

/** Median (mean of the middle two for an even count), min and max. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Running mean and variance (Welford), so millions of per-token values need no array. */
export class RunningStats {
  private count = 0;
  private mu = 0;
  private m2 = 0;

  push(x: number): void {
    this.count++;
    const d = x - this.mu;
    this.mu += d / this.count;
    this.m2 += d * (x - this.mu);
  }

  get n(): number {
    return this.count;
  }

  get mean(): number {
    return this.mu;
  }

  /** Sample variance (n − 1 in the denominator); 0 for fewer than two values. */
  get variance(): number {
    return this.count > 1 ? this.m2 / (this.count - 1) : 0;
  }

  /** Standard error of the mean: sample standard deviation / √n. */
  get standardError(): number {
    return this.count > 0 ? Math.sqrt(this.variance / this.count) : 0;
  }
}

/**
 * Perplexity exp(mean NLL) and its standard error by the delta method,
 * SE(ppl) ≈ ppl · SE(mean NLL) (as mlx_lm.perplexity reports it).
 */
export function perplexityOf(nll: RunningStats): { ppl: number; se: number } {
  const ppl = Math.exp(nll.mean);
  return { ppl, se: ppl * nll.standardError };
}

/** The q-quantile (0..1) of values, by linear interpolation between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

// Peak memory of one trial. On Linux the kernel keeps the process's resident-set
// high-water mark (VmHWM) and resets it on request (`5` into /proc/self/clear_refs,
// Linux ≥ 4.0), so the peak is exact and per trial. Elsewhere the resident set is
// sampled at each step. mlx_lm.benchmark never resets its peak; this does.
import { readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemoryProbe {
  /** Starts a new peak from the current resident set. */
  reset(): void;
  /** Called between steps; probes without a kernel high-water mark sample here. */
  sample(): void;
  /** Largest resident set since reset(), in bytes. */
  peak(): number;
  /** What the peak measures, for reports. */
  readonly method: string;
}

function vmHwm(): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

class KernelHighWater implements MemoryProbe {
  readonly method = 'resident-set high-water mark (Linux VmHWM, reset per trial)';
  reset(): void {
    writeFileSync('/proc/self/clear_refs', '5');
  }
  sample(): void {}
  peak(): number {
    return vmHwm() ?? process.memoryUsage.rss();
  }
}

class SampledRss implements MemoryProbe {
  readonly method = 'largest resident set sampled at each step';
  private max = 0;
  reset(): void {
    this.max = process.memoryUsage.rss();
  }
  sample(): void {
    this.max = Math.max(this.max, process.memoryUsage.rss());
  }
  peak(): number {
    this.sample();
    return this.max;
  }
}

export function processMemoryProbe(): MemoryProbe {
  if (vmHwm() !== null) {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      return new KernelHighWater();
    } catch {
      // clear_refs not writable (some sandboxes): fall back to sampling.
    }
  }
  return new SampledRss();
}

let fullGc: (() => void) | null | undefined;

/**
 * A full garbage collection, so native buffers of the previous trial whose JS handles
 * are garbage (node-mlx frees arrays only in finalizers) are released before the next
 * peak starts; then one event-loop turn for the finalizers.
 */
export async function collectGarbage(): Promise<void> {
  if (fullGc === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    try {
      if (!g) setFlagsFromString('--expose-gc');
      fullGc = g ?? (runInNewContext('gc') as () => void);
    } catch {
      fullGc = null;
    }
  }
  fullGc?.();
  await new Promise<void>((resolve) => setImmediate(resolve));
}

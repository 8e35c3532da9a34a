// Does a planned model fit a machine? Weights + KV cache at the requested
// context + runtime overhead + an OS reserve against unified memory, and
// against macOS's default GPU wired-memory limit (about 75% of RAM on large
// machines), with the `sysctl iogpu.wired_limit_mb` value that lifts it.
import type { QuantPlan } from './plan.js';

export interface FitOptions {
  memoryBytes: number;
  context: number;
  /** Bytes per cached element: 2 for a bf16/f16 cache. */
  kvBytesPerElement?: number;
  reserveBytes?: number;
}

export interface FitReport {
  weightBytes: number;
  kvBytesPerToken: number;
  context: number;
  kvBytes: number;
  overheadBytes: number;
  reserveBytes: number;
  totalBytes: number;
  memoryBytes: number;
  fits: boolean;
  gpuBytes: number;
  defaultWiredLimitBytes: number;
  needsWiredLimit: boolean;
  /** MB for `sudo sysctl iogpu.wired_limit_mb=…`: all memory but the OS reserve. */
  wiredLimitMb: number;
}

/** macOS keeps this much for itself: 5% of RAM, at least 4 GiB, at most 24 GiB. */
export function defaultReserve(memoryBytes: number): number {
  return Math.min(24 * 2 ** 30, Math.max(4 * 2 ** 30, memoryBytes * 0.05));
}

export function fitReport(plan: QuantPlan, opts: FitOptions): FitReport {
  const kvBytesPerToken = plan.table.numLayers * plan.table.kvElementsPerTokenPerLayer * (opts.kvBytesPerElement ?? 2);
  const kvBytes = kvBytesPerToken * opts.context;
  // Activations, prefill buffers and allocator slack: 1% of the weights, at least 1 GiB.
  const overheadBytes = Math.max(2 ** 30, plan.bytes * 0.01);
  const reserveBytes = opts.reserveBytes ?? defaultReserve(opts.memoryBytes);
  const gpuBytes = plan.bytes + kvBytes + overheadBytes;
  const totalBytes = gpuBytes + reserveBytes;
  const defaultWiredLimitBytes = opts.memoryBytes * 0.75;
  return {
    weightBytes: plan.bytes,
    kvBytesPerToken,
    context: opts.context,
    kvBytes,
    overheadBytes,
    reserveBytes,
    totalBytes,
    memoryBytes: opts.memoryBytes,
    fits: totalBytes <= opts.memoryBytes,
    gpuBytes,
    defaultWiredLimitBytes,
    needsWiredLimit: gpuBytes > defaultWiredLimitBytes,
    wiredLimitMb: Math.floor((opts.memoryBytes - reserveBytes) / 2 ** 20),
  };
}

// Modules whose quantized rows the converter takes from elsewhere instead of quantizing
// them itself: GPTQ and learned rounding need each layer's calibration inputs, which
// lib/calib computes block by block. The converter asks for a module when it reaches it
// in shard order, copies its rows into the shard, and says when a shard is durable so
// the producer can drop what it kept for it. quant/ sees only this plain interface.

export interface PrecomputedRows {
  words: Uint32Array;
  /** Already rounded to the storage dtype. */
  scales: Float32Array;
  biases: Float32Array;
}

/** How a module was quantized against its calibration Hessian, for the per-tensor report. */
export interface CalibrationReport {
  /** Slices (experts, heads) by the method that was kept: gptq / learned / rtn / mse. */
  kept: Record<string, number>;
  /** Σ tr(ΔW·H·ΔWᵀ) over slices for the kept result, round-to-nearest and the MSE fit, and tr(W·H·Wᵀ). */
  outputError: number;
  rtnOutputError: number;
  mseOutputError: number;
  outputEnergy: number;
  /** Slices whose Hessian came from no calibration token (the shared one was used). */
  fallbackSlices: number;
  /** Calibration tokens that reached the module (summed over slices). */
  tokens: number;
  /** Columns no calibration input reached, summed over slices, and slices whose damping had to be raised. */
  deadColumns: number;
  dampRaised: number;
  /** ‖ŵ − w‖ / ‖w‖ of the kept result. */
  relRmsError: number;
}

export interface PrecomputedSource {
  /** Resolves true once `module`'s rows can be read, false when it is not precomputed. */
  prepare(module: string): Promise<boolean>;
  readRows(module: string, start: number, count: number): PrecomputedRows;
  report(module: string): CalibrationReport;
  /** The shard holding these modules is on disk: their kept rows are no longer needed. */
  written(modules: string[]): void;
}

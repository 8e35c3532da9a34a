// Statistics of a module's inputs over calibration text, as quant/ takes them:
// plain arrays, never a model. lib/calib gathers them by running the model;
// lib/io reads and writes them as llama.cpp imatrix files.

/**
 * llama.cpp's imatrix for one MLX module: Σ x_j² per input column over the tokens that
 * reached it (the diagonal of the GPTQ Hessian XᵀX), kept per expert for stacked experts.
 */
export interface ColumnImportance {
  /** Input columns: the last axis of the module's weight. */
  cols: number;
  /** 1 for a plain linear; E for a stacked switch_mlp projection (one slice per expert). */
  slices: number;
  /** [slices, cols] row-major: Σ x_j² over the tokens that reached each slice. */
  sumSq: Float32Array;
  /** Tokens that reached each slice (0 for an expert no calibration token was routed to). */
  tokens: Float64Array;
}

/** Per-module statistics by MLX module path (`model.layers.3.mlp.switch_mlp.down_proj`). */
export type ImportanceByModule = ReadonlyMap<string, ColumnImportance>;

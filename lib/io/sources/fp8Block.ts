// FP8 E4M3 weights with per-block float32 inverse scales, as released for
// DeepSeek-V3 and Kimi-K2: `weight` F8_E4M3 [out, in] and `weight_scale_inv`
// F32 [ceil(out/bo), ceil(in/bi)], w = fp8 · scale_inv[r/bo, c/bi]
// (quantization_config.weight_block_size, usually [128, 128]).
import { F8_E4M3_TABLE, f32ToE4m3 } from '../dtype.js';

export type BlockSize = [number, number];

/** Dequantize `count` rows starting at row `rowStart`; `weight` holds exactly those rows. */
export function decodeFp8BlockRows(weight: Uint8Array, scaleInv: Float32Array, rowStart: number, count: number, cols: number, block: BlockSize, out = new Float32Array(count * cols)): Float32Array {
  const [bo, bi] = block;
  const blockCols = Math.ceil(cols / bi);
  for (let r = 0; r < count; r++) {
    const srow = Math.floor((rowStart + r) / bo) * blockCols;
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = F8_E4M3_TABLE[weight[r * cols + c]!]! * scaleInv[srow + Math.floor(c / bi)]!;
    }
  }
  return out;
}

/** DeepSeek's scheme: scale_inv = amax(block)/448, weight = e4m3(w / scale_inv). Used to write test checkpoints. */
export function encodeFp8Block(w: Float32Array, rows: number, cols: number, block: BlockSize = [128, 128]): { weight: Uint8Array; scaleInv: Float32Array } {
  const [bo, bi] = block;
  const br = Math.ceil(rows / bo);
  const bc = Math.ceil(cols / bi);
  const scaleInv = new Float32Array(br * bc);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = Math.floor(r / bo) * bc + Math.floor(c / bi);
      scaleInv[k] = Math.max(scaleInv[k]!, Math.abs(w[r * cols + c]!));
    }
  }
  for (let k = 0; k < scaleInv.length; k++) scaleInv[k] = scaleInv[k]! > 0 ? scaleInv[k]! / 448 : 1;
  const weight = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      weight[r * cols + c] = f32ToE4m3(w[r * cols + c]! / scaleInv[Math.floor(r / bo) * bc + Math.floor(c / bi)]!);
    }
  }
  return { weight, scaleInv };
}

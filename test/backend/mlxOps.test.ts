// The mlx backend's ops against the float64 references of opsSuite.ts: quantized
// products through its kernel (few rows) and dequantize + BLAS (many rows), MoE through
// the gathered (few pairs) and grouped (many pairs) paths. MLX computes in float32 with
// dequantized weights, so quantized products are held to the dense bound.
import { test } from 'uvu';
import { MlxOps } from '../../lib/backend/mlx/ops.js';
import { GATHER_MAX_PAIRS } from '../../lib/backend/mlx/moe.js';
import { DEQUANTIZE_FROM_ROWS } from '../../lib/backend/mlx/weights.js';
import { rng, runSeed } from '../helpers.js';
import { opsSuite } from './opsSuite.js';

const seed = runSeed();
console.log(`mlxOps seed ${seed} (MLXK_SEED=${seed} reproduces)`);
opsSuite(test, new MlxOps(), { quantizedRel: 1e-5, linearRows: [1, 3, DEQUANTIZE_FROM_ROWS + 1], moeTokens: Math.floor(GATHER_MAX_PAIRS / 2) + 1 }, rng(seed));

test.run();

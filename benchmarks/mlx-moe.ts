// Why the mlx backend gathers experts for few tokens and groups tokens by expert for
// many (lib/backend/mlx/moe.ts): times one MoE block (tiny-kimi's 16 experts of
// 256×256, top-4; dense float32 and 4-bit) both ways at decode and prefill token counts.
// Run: npm run build && node dist/benchmarks/mlx-moe.js
import { loadMlx } from '../lib/backend/mlx/load.js';
import { GATHER_MAX_PAIRS, moeForward } from '../lib/backend/mlx/moe.js';
import { affineWeight, denseWeight, type MlxWeight } from '../lib/backend/mlx/weights.js';

const mx = loadMlx().core;
type MxArray = ReturnType<typeof mx.zeros>;
const [E, H, I, k] = [16, 256, 256, 4];

function ms(f: () => void, reps = 50): number {
  f();
  const t = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t) / reps;
}

const make = (o: number, i: number) => mx.multiply(mx.random.normal([E, o, i]), 0.05);
const W = { gate: make(I, H), up: make(I, H), down: make(H, I) };
const quant = (w: MxArray, o: number, i: number): MlxWeight => {
  const [q, s, b] = mx.quantize(w.reshape([E * o, i]), 64, 4) as unknown as [MxArray, MxArray, MxArray];
  return affineWeight(mx, q.reshape([E, o, i / 8]), s.reshape([E, o, i / 64]), b.reshape([E, o, i / 64]), 4, 64, [E, o, i]);
};
const variants = {
  'float32': { gate: denseWeight(mx, W.gate), up: denseWeight(mx, W.up), down: denseWeight(mx, W.down) },
  '4-bit': { gate: quant(W.gate, I, H), up: quant(W.up, I, H), down: quant(W.down, H, I) },
};

console.log(`MoE block, ${E} experts ${H}×${I}, top-${k}; gathered path used up to ${GATHER_MAX_PAIRS} (token, expert) pairs`);
console.log('weights   tokens  gathered ms  grouped ms');
for (const [name, experts] of Object.entries(variants)) {
  for (const tokens of [1, 2, 4, 16, 64]) {
    const x = mx.random.normal([tokens, H]);
    mx.eval(x);
    const indices = Int32Array.from({ length: tokens * k }, (_, p) => (Math.floor(p / k) * 7 + (p % k) * 5) % E);
    const route = { tokens, k, indices, weights: Float32Array.from({ length: tokens * k }, () => 1 / k) };
    const timed = (gatherMaxPairs: number) => ms(() => mx.eval(moeForward(mx, x, route, experts, gatherMaxPairs)));
    console.log(name.padEnd(9), String(tokens).padStart(6), timed(Infinity).toFixed(3).padStart(12), timed(0).toFixed(3).padStart(11));
  }
}

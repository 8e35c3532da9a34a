// What coarser activation blocks would cost in precision (issue 14), not a test. The native
// kernels quantize a product's activations to int8 with one scale per 32 values; llama.cpp's
// K-quant dot products use one per 256 (Q8_K), which takes most of the per-line float work out of
// their inner loop. This measures the precision side before any kernel is changed: the model runs
// on the native backend with 16-bit activations (≈ exact) while every weight-bearing op's input is
// first rounded in JavaScript to int8 with one absmax scale per B values (round to nearest, as
// native/src/kernels_scalar.cc's quantize_rows_scalar), B = 32 (today's kernels), 64, 128, 256, and
// one scale per row; the routed experts' SwiGLU rows are rounded before their down products too.
// Per variant: mean KL(exact ‖ variant) over every position of windows of the shipped calibration
// text (calib/, never evaluation text), top-1 agreement, and the same for the real int8 kernels as a
// check that B = 32 models them.
//   npm run build && node dist/benchmarks/activation-blocks.js [MODEL_DIR] [--windows 8] [--len 256] [--out FILE.md]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NativeOps } from '../lib/backend/native/ops.js';
import type { ExpertWeights, Ops, Route, Tensor, Weight } from '../lib/backend/ops.js';
import { argmax, klDivergence } from '../lib/bench/logits.js';
import { calibrationIds, calibrationWindows, openCalibration } from '../lib/calib/calibText.js';
import { loadModel } from '../lib/models/load.js';
import type { CausalLM } from '../lib/models/model.js';
import { loadTokenizer } from '../lib/tokenizer/index.js';

const REPO = new URL('../../', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--')) ?? join(REPO, 'models', 'tiny-kimi');
const WINDOWS = Number(opt('windows', '8'));
const LEN = Number(opt('len', '256'));
/** Block sizes; 0 = one scale per row. */
const VARIANTS: { name: string; block: number }[] = [
  { name: 'int8, 32 values a scale (the kernels today)', block: 32 },
  { name: 'int8, 64', block: 64 },
  { name: 'int8, 128', block: 128 },
  { name: 'int8, 256 (llama.cpp Q8_K)', block: 256 },
  { name: 'int8, one scale per row', block: 0 },
];

/** x's rows (last axis) rounded to int8 per block of `block` values (0: the whole row) and back. */
function roundRows(values: Float32Array, rowLength: number, block: number): Float32Array {
  const out = new Float32Array(values.length);
  const b = block === 0 ? rowLength : block;
  for (let r = 0; r < values.length; r += rowLength)
    for (let s = r; s < r + rowLength; s += b) {
      const e = Math.min(s + b, r + rowLength);
      let amax = 0;
      for (let i = s; i < e; i++) amax = Math.max(amax, Math.abs(values[i]!));
      const d = Math.fround(amax / 127);
      const id = amax > 0 ? Math.fround(127 / amax) : 0;
      for (let i = s; i < e; i++) out[i] = Math.fround(d * Math.round(Math.fround(values[i]! * id)));
    }
  return out;
}

/** Ops whose products see their inputs rounded per `state.block` (null: unchanged); fused layers off. */
function roundingOps(inner: Ops, state: { block: number | null }): Ops {
  const round = (x: Tensor): Tensor => {
    if (state.block === null) return x;
    const shape = inner.shape(x);
    return inner.constant(roundRows(inner.read(x), shape[shape.length - 1]!, state.block), shape);
  };
  // The routed experts as gathered products (so their SwiGLU rows can be rounded too), combined in token order.
  const moe = (x: Tensor, route: Route, experts: ExpertWeights): Tensor => {
    const [T, hidden] = inner.shape(x) as [number, number];
    const P = route.tokens * route.k;
    const rows = Int32Array.from({ length: P }, (_, p) => Math.floor(p / route.k));
    const xr = round(x);
    const h = inner.swiglu(inner.gatherLinear(xr, experts.gate, rows, route.indices), inner.gatherLinear(xr, experts.up, rows, route.indices));
    const y = inner.read(inner.gatherLinear(round(h), experts.down, Int32Array.from({ length: P }, (_, p) => p), route.indices));
    const out = new Float32Array(T * hidden);
    for (let p = 0; p < P; p++) for (let j = 0; j < hidden; j++) out[rows[p]! * hidden + j]! += route.weights[p]! * y[p * hidden + j]!;
    return inner.constant(out, [T, hidden]);
  };
  return new Proxy(inner, {
    get: (target, prop, recv) => {
      if (prop === 'linear') return (x: Tensor, w: Weight, bias?: Weight) => target.linear(round(x), w, bias);
      // Untransposed per-head products (the expanded MLA of prompts) take float activations in the kernels.
      if (prop === 'perHeadLinear') return (x: Tensor, w: Weight, transpose: boolean) => target.perHeadLinear(transpose ? round(x) : x, w, transpose);
      if (prop === 'gatherLinear') return (x: Tensor, w: Weight, r: Int32Array, s: Int32Array) => target.gatherLinear(round(x), w, r, s);
      if (prop === 'moe') return moe;
      if (prop === 'mlaLayers') return undefined;
      const v = Reflect.get(target, prop, recv) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function logitsOf(model: CausalLM, windows: number[][]): Float32Array[] {
  return windows.map((w) => model.ops.read(model.forward(w, model.newCache(), { allLogits: true })));
}

interface Row {
  name: string;
  kl: number;
  top1: number;
}

function compare(name: string, base: Float32Array[], other: Float32Array[], vocab: number): Row {
  let kl = 0;
  let same = 0;
  let n = 0;
  base.forEach((b, i) => {
    const o = other[i]!;
    for (let row = 0; row < b.length / vocab; row++, n++) {
      kl += klDivergence(b, o, row, vocab);
      if (argmax(b, row, vocab) === argmax(o, row, vocab)) same++;
    }
  });
  return { name, kl: kl / n, top1: same / n };
}

async function main(): Promise<void> {
  const set = openCalibration(undefined);
  const tokenizer = loadTokenizer(dir);
  const state: { block: number | null } = { block: null };
  const { model, config } = await loadModel(dir, roundingOps(new NativeOps({ activationBits: 16, fusedLayers: false }), state));
  const windows = calibrationWindows(calibrationIds(set, tokenizer), set, config, { seqLen: LEN, maxTokens: Math.max(WINDOWS * LEN, 1) }).slice(0, WINDOWS);
  const vocab = model.info.vocabSize;
  const exact = logitsOf(model, windows);
  const rows: Row[] = [];
  for (const v of VARIANTS) {
    state.block = v.block;
    rows.push(compare(v.name, exact, logitsOf(model, windows), vocab));
    console.error(`${v.name}: done`);
  }
  state.block = null;
  const kernels = (await loadModel(dir, new NativeOps({ activationBits: 8 }))).model;
  rows.push(compare('the int8 kernels themselves (check of the 32 row)', exact, logitsOf(kernels, windows), vocab));
  const lines = [
    `Model ${dir}; ${windows.length} windows of ${LEN} tokens of the shipped calibration set (${set.sha256.slice(0, 12)}); reference: 16-bit activations.`,
    '',
    '| activations | mean KL (nats) vs 16-bit | top-1 agreement | KL ÷ 32-value blocks |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.kl.toExponential(3)} | ${(100 * r.top1).toFixed(2)} % | ${(r.kl / rows[0]!.kl).toFixed(2)}× |`),
  ];
  const text = lines.join('\n') + '\n';
  const out = opt('out', '');
  if (out) writeFileSync(out, text);
  process.stdout.write(text);
}

void main();

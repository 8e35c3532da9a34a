// The imatrix gathering against an independent float64 computation over the same
// activations: the model runs again with a recorder around Ops, and every module's Σx² is
// summed here in float64 from what it recorded — experts' hidden states computed from the
// checkpoint's own per-expert weights, MLA's absorbed-form inputs from q, k and the latent
// with a causal softmax written out. Per-expert token counts equal the router's choices.
// Every architecture: the bundled Kimi model, and synthetic Llama, Qwen3 and Qwen3-MoE
// checkpoints (HF layout, per-expert tensors) that share its tokenizer.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createOps } from '../../lib/backend/index.js';
import type { Ops, Route, Tensor, Weight } from '../../lib/backend/ops.js';
import { calibrationIds, calibrationWindows, openCalibration } from '../../lib/calib/calibText.js';
import { gatherImportance } from '../../lib/calib/imatrix.js';
import { Checkpoint } from '../../lib/io/checkpoint.js';
import { builderOf } from '../../lib/models/load.js';
import { loadWeights } from '../../lib/models/loadWeights.js';
import { tensorTable } from '../../lib/models/registry.js';
import { readFloatTensor } from '../../lib/quant/source.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import { synthConfig } from '../../lib/cli/synth.js';
import { readJson } from '../../lib/io/checkpoint.js';
import { synthesize } from '../../lib/models/synth.js';
import { REPO, TINY_KIMI, tmpDir } from '../helpers.js';

const CALIB = join(REPO, 'test', 'fixtures', 'calib', 'gptq-calib.txt');
const SEQ = 64;
const MAX_TOKENS = 192;
/** Two windows run together, then the third: several sequences in one pass, and more than one pass. */
const PASS_TOKENS = 128;

interface Ref {
  sumSq: Float64Array;
  tokens: Float64Array;
  cols: number;
}

/** The reference: the model's plain forward pass with every input recorded and summed in float64 here. */
async function reference(ops: Ops, dir: string) {
  const ckpt = Checkpoint.open(dir);
  const table = tensorTable(ckpt.config, 'config.json');
  const weights = await loadWeights(ckpt, table, ops);
  const names = new Map<Weight, string>([...weights.entries()].map(([n, w]) => [w, n.replace(/\.weight$/, '')]));
  const ref = new Map<string, Ref>();
  const routed = new Map<string, number[]>(); // switch_mlp prefix → tokens per expert from the router's choices
  const acc = (m: string, slices: number, cols: number) => {
    if (!ref.has(m)) ref.set(m, { sumSq: new Float64Array(slices * cols), tokens: new Float64Array(slices), cols });
    return ref.get(m)!;
  };
  const add = (r: Ref, slice: number, row: ArrayLike<number>) => {
    for (let j = 0; j < r.cols; j++) r.sumSq[slice * r.cols + j]! += row[j]! * row[j]!;
    r.tokens[slice]! += 1;
  };
  const expertW = new Map<string, Float32Array>();
  const hfWeight = (name: string) => {
    if (!expertW.has(name)) expertW.set(name, readFloatTensor(ckpt, name));
    return expertW.get(name)!;
  };
  let latent: { module: string; x: Float32Array; v: Tensor; S: number; rank: number } | null = null;
  let embedQ: string | null = null;
  const rec: Ops = new Proxy(ops, {
    get: (t, prop, recv) => {
      if (prop === 'mlaLayers') return undefined; // recorded op by op
      if (prop === 'linear') return (x: Tensor, w: Weight, b?: Weight) => {
        const m = names.get(w)!;
        const s = t.weightShape(w);
        const cols = s[s.length - 1]!;
        const xv = t.read(x);
        const r = acc(m, 1, cols);
        for (let i = 0; i < xv.length / cols; i++) add(r, 0, xv.subarray(i * cols, (i + 1) * cols));
        return t.linear(x, w, b);
      };
      if (prop === 'perHeadLinear') return (x: Tensor, w: Weight, transpose: boolean) => {
        const y = t.perHeadLinear(x, w, transpose);
        const [S, , rank] = t.shape(x) as [number, number, number];
        if (transpose) latent = { module: names.get(w)!, x: t.read(x), v: y, S, rank };
        else embedQ = names.get(w)!;
        return y;
      };
      if (prop === 'attention') return (q: Tensor, k: Tensor, v: Tensor, scale: number) => {
        const [T, H, D] = t.shape(q) as [number, number, number];
        const qv = t.read(q);
        const kv = t.read(k);
        const [S] = t.shape(k) as [number];
        const nope = t.weightShape(weights.get(`${embedQ}.weight`))[2]!;
        const eq = acc(embedQ!, H, nope);
        for (let tt = 0; tt < T; tt++) for (let h = 0; h < H; h++) add(eq, h, qv.subarray((tt * H + h) * D, (tt * H + h) * D + nope));
        assert.ok(latent && latent.v === v, 'prefill: v is the latent through unembed_out');
        const { x: lat, rank, module } = latent!;
        const uo = acc(module, H, rank);
        for (let tt = 0; tt < T; tt++) for (let h = 0; h < H; h++) {
          const visible = S - T + tt + 1;
          const logits = Array.from({ length: visible }, (_, s) => {
            let d = 0;
            for (let j = 0; j < D; j++) d += qv[(tt * H + h) * D + j]! * kv[(s * H + h) * D + j]!;
            return d * scale;
          });
          const mx = Math.max(...logits);
          const p = logits.map((l) => Math.exp(l - mx));
          const z = p.reduce((a, b) => a + b, 0);
          const o = new Float64Array(rank);
          for (let s = 0; s < visible; s++) for (let j = 0; j < rank; j++) o[j]! += (p[s]! / z) * lat[s * rank + j]!;
          add(uo, h, o);
        }
        return t.attention(q, k, v, scale);
      };
      if (prop === 'moe') return (x: Tensor, route: Route, experts: { gate: Weight; up: Weight; down: Weight }) => {
        const P = names.get(experts.gate)!.replace(/\.gate_proj$/, '');
        const L = P.replace(/\.mlp\.switch_mlp$/, '');
        const [T, hidden] = t.shape(x) as [number, number];
        const [E, inter] = t.weightShape(experts.gate) as [number, number];
        const xv = t.read(x);
        const gi = acc(`${P}.gate_proj`, E, hidden);
        const ui = acc(`${P}.up_proj`, E, hidden);
        const di = acc(`${P}.down_proj`, E, inter);
        const counts = routed.get(P) ?? new Array<number>(E).fill(0);
        routed.set(P, counts);
        for (let tt = 0; tt < T; tt++) for (let j = 0; j < route.k; j++) {
          const e = route.indices[tt * route.k + j]!;
          counts[e]!++;
          const xt = xv.subarray(tt * hidden, (tt + 1) * hidden);
          add(gi, e, xt);
          add(ui, e, xt);
          const G = hfWeight(`${L}.mlp.experts.${e}.gate_proj.weight`);
          const U = hfWeight(`${L}.mlp.experts.${e}.up_proj.weight`);
          const h = new Float64Array(inter);
          for (let i = 0; i < inter; i++) {
            let g = 0;
            let u = 0;
            for (let c = 0; c < hidden; c++) {
              g += G[i * hidden + c]! * xt[c]!;
              u += U[i * hidden + c]! * xt[c]!;
            }
            h[i] = (g / (1 + Math.exp(-g))) * u;
          }
          add(di, e, h);
        }
        return t.moe(x, route, experts);
      };
      const v = Reflect.get(t, prop, recv);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  const model = builderOf(table.modelType, 'config.json')(rec, weights, ckpt.config, table.modelType);
  const calib = openCalibration(CALIB);
  const windows = calibrationWindows(calibrationIds(calib, loadTokenizer(dir)), calib, ckpt.config, { seqLen: SEQ, maxTokens: MAX_TOKENS });
  for (const w of windows) model.forward(w, model.newCache(), { allLogits: true });
  ckpt.close();
  return { ref, routed };
}

/** A synthetic HF checkpoint of `arch` (2–3 layers, random weights) with tiny-kimi's tokenizer. */
function synthWithKimiTokenizer(arch: string): string {
  const dir = tmpDir();
  const moe = arch === 'qwen3_moe' ? { moeIntermediate: '32', experts: '8' } : {};
  const cfg = synthConfig(arch, { format: 'float', seed: '1', std: '0.02', shardSize: '5GiB', layers: '3', vocab: '4128', hidden: '64', intermediate: '96', heads: '4', kvHeads: '2', ...moe });
  synthesize({ config: cfg, out: dir, seed: 5 });
  for (const f of ['tiktoken.model', 'tokenizer_config.json']) copyFileSync(join(TINY_KIMI, f), join(dir, f));
  return dir;
}

const CASES: [string, () => string, string[], number][] = [
  ['kimi_k2 (bundled)', () => TINY_KIMI, ['model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.q_a_proj', 'model.layers.1.self_attn.embed_q', 'model.layers.1.self_attn.unembed_out', 'model.layers.1.mlp.gate', 'model.layers.1.mlp.shared_experts.down_proj', 'model.layers.3.mlp.switch_mlp.down_proj', 'lm_head'], 4],
  ['llama (synthetic)', () => synthWithKimiTokenizer('llama'), ['model.layers.0.self_attn.q_proj', 'model.layers.2.self_attn.o_proj', 'model.layers.1.mlp.down_proj', 'lm_head'], 0],
  ['qwen3 (synthetic)', () => synthWithKimiTokenizer('qwen3'), ['model.layers.0.self_attn.k_proj', 'model.layers.2.mlp.up_proj'], 0],
  ['qwen3_moe (synthetic)', () => synthWithKimiTokenizer('qwen3_moe'), ['model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.gate', 'model.layers.2.mlp.switch_mlp.down_proj', 'lm_head'], -1],
];

for (const [name, makeDir, mustHave, topK] of CASES) test(`${name}: Σx² per input column of every linear equals float64 sums over the same activations; expert counts are the router\'s choices`, async () => {
  const ops = createOps('native');
  const dir = makeDir();
  const got = await gatherImportance(dir, ops, { calib: openCalibration(CALIB), seqLen: SEQ, maxTokens: MAX_TOKENS, passTokens: PASS_TOKENS });
  const { ref, routed } = await reference(ops, dir);
  assert.is(got.tokens, MAX_TOKENS);
  assert.equal([...got.importance.keys()].sort(), [...ref.keys()].sort());
  for (const m of mustHave) assert.ok(got.importance.has(m), m);
  const k = topK >= 0 ? topK : (readJson(join(dir, 'config.json')).num_experts_per_tok as number);
  assert.is(routed.size > 0, k > 0, 'routed experts were seen exactly where the model has them');
  for (const [m, r] of ref) {
    const g = got.importance.get(m)!;
    assert.is(g.cols, r.cols, `${m} cols`);
    assert.is(g.slices, r.tokens.length, `${m} slices`);
    assert.equal(Array.from(g.tokens), Array.from(r.tokens), `${m} tokens`);
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < r.sumSq.length; i++) {
      maxRef = Math.max(maxRef, r.sumSq[i]!);
      maxDiff = Math.max(maxDiff, Math.abs(g.sumSq[i]! - r.sumSq[i]!));
    }
    assert.ok(maxRef > 0, `${m}: no input`);
    assert.ok(maxDiff <= 2e-4 * maxRef, `${m}: max |Δ| ${maxDiff} against max Σx² ${maxRef}`);
  }
  for (const [P, counts] of routed) {
    assert.equal(Array.from(got.importance.get(`${P}.down_proj`)!.tokens), counts, `${P}: tokens per expert`);
    const cov = got.coverage.find((c) => c.module === P)!;
    assert.equal(cov.unseen, counts.flatMap((c, e) => (c === 0 ? [e] : [])));
    assert.is(counts.reduce((a, b) => a + b, 0), MAX_TOKENS * k, `top-${k} routing: ${k} choices per token`);
  }
});

test.run();

// One DeepSeek-V3 / Kimi decoder layer of the block-by-block calibration pass, on the
// layer's calibration inputs (the previous layer's outputs after its quantization):
// 1. attention with the source weights over every sequence, a tap gathering each
//    projection's input Hessian (q_a/kv_a: the normed residual; q_b: the q latent;
//    o_proj: the attention output; unembed_out: the kv latent, shared by the heads;
//    embed_q: each head's q_nope, the input of its absorbed product), then GPTQ;
// 2. attention again with the quantized weights → the MLP's inputs;
// 3. the MLP: gate/up against the inputs' Hessian, down against the hidden states of the
//    *quantized* gate/up. Routed experts are streamed one at a time: an expert's gate/up
//    Hessian comes from the tokens routed to it, shrunk toward the all-token Hessian, and
//    its down Hessian toward the pooled hidden states of all experts (lib/calib/hessian.ts);
//    only one expert's weights and Hessians are in memory at once.
// The MLA attention itself is the model's own code (DeepseekV3Model.attention).
import type { Ops, Route, Tensor, Weight } from '../backend/ops.js';
import type { JsonObject } from '../io/checkpoint.js';
import { type DeepseekV3Config, deepseekV3Config, DeepseekV3Model, isMoeLayer } from '../models/deepseek_v3.js';
import { ModelWeights } from '../models/model.js';
import { Hessian, shrinkHessian } from './hessian.js';
import { tapOps } from './tap.js';
import { type BlockModules, isCalibrated, type SliceHessian } from './sequentialModule.js';

export interface LayerInput {
  /** [tokens, hidden], sequences of seqLen tokens back to back. */
  x: Float32Array;
  tokens: number;
  seqLen: number;
}

/** Waits a turn of the event loop between heavy steps (progress output, Ctrl-C). */
const turn = () => new Promise<void>((r) => setImmediate(r));

function own(h: Hessian): SliceHessian {
  return { h: h.h, tokens: h.tokens, fallback: false };
}

export class DeepseekBlocks {
  readonly c: DeepseekV3Config;
  readonly prefix: string;

  constructor(private readonly ops: Ops, config: JsonObject, private readonly modelType: string) {
    const kimi25 = modelType === 'kimi_k25';
    this.c = deepseekV3Config(kimi25 ? (config.text_config as JsonObject) : config, kimi25 ? 'config.json text_config' : 'config.json');
    this.prefix = kimi25 ? 'language_model.' : '';
  }

  get layers(): number {
    return this.c.layers;
  }

  get hidden(): number {
    return this.c.hidden;
  }

  /** Module paths of layer l (all of them; the caller filters calibrated ones). */
  layerPrefix(l: number): string {
    return `${this.prefix}model.layers.${l}`;
  }

  get embedModule(): string {
    return `${this.prefix}model.embed_tokens`;
  }

  get headModule(): string {
    return `${this.prefix}lm_head`;
  }

  private weight(values: Float32Array, shape: number[]): Weight {
    return this.ops.dense(this.ops.constant(values, shape));
  }

  /** A plain (never quantized) tensor such as a norm or the router's bias, as stored. */
  private vector(mods: BlockModules, tensor: string): Weight {
    const v = mods.tensor(tensor);
    return this.weight(v, [v.length]);
  }

  private rows(x: Float32Array, start: number, count: number, dim: number): Tensor {
    return this.ops.constant(x.subarray(start * dim, (start + count) * dim), [count, dim]);
  }

  /** Block-0 inputs: the embedding rows of `ids` as the converted model stores them. */
  embed(mods: BlockModules, ids: number[]): Float32Array {
    const d = this.c.hidden;
    const out = new Float32Array(ids.length * d);
    const cache = new Map<number, Float32Array>();
    ids.forEach((id, t) => {
      let row = cache.get(id);
      if (!row) {
        row = mods.weights(this.embedModule, id, 1, null);
        cache.set(id, row);
      }
      out.set(row, t * d);
    });
    return out;
  }

  async layer(l: number, input: LayerInput, mods: BlockModules, tick: (detail: string) => void): Promise<Float32Array> {
    const { ops, c } = this;
    const L = this.layerPrefix(l);
    const A = `${L}.self_attn`;
    const { x, tokens, seqLen } = input;
    const d = c.hidden;
    const seqs = tokens / seqLen;
    const inNorm = this.vector(mods, `${L}.input_layernorm.weight`);

    // ---- attention: Hessians from the source weights ----
    const attnLinears = c.qLoraRank === null ? ['q_proj', 'kv_a_proj_with_mqa', 'o_proj'] : ['q_a_proj', 'q_b_proj', 'kv_a_proj_with_mqa', 'o_proj'];
    const shapes = new Map<string, number[]>();
    for (const p of [...attnLinears, 'embed_q', 'unembed_out']) shapes.set(p, mods.module(`${A}.${p}`).entries.find((e) => e.kind !== 'bias')!.shape);
    const srcW = new Map<string, Weight>();
    const hess = new Map<Weight, Hessian>();
    for (const p of [...attnLinears, 'embed_q', 'unembed_out']) {
      const shape = shapes.get(p)!;
      const m = mods.module(`${A}.${p}`);
      const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const w = this.weight(mods.sourceRows(m, 0, rows), shape);
      srcW.set(`${A}.${p}.weight`, w);
      hess.set(w, new Hessian(shape[shape.length - 1]!));
    }
    for (const n of ['q_a_layernorm', 'kv_a_layernorm']) if (c.qLoraRank !== null || n === 'kv_a_layernorm') srcW.set(`${A}.${n}.weight`, this.vector(mods, `${A}.${n}.weight`));
    const embedQ = srcW.get(`${A}.embed_q.weight`)!;
    const perHead = Array.from({ length: c.heads }, () => new Hessian(c.nope));
    const tapped = tapOps(ops, {
      linear: (xi, w) => hess.get(w)?.add(ops.read(xi), ops.shape(xi)[0]!),
      perHeadLinear: (xi, w, transpose) => {
        const h = hess.get(w);
        // unembed_out reads the latent along its input axis; embed_q's input is q_nope (tapped in attention).
        if (h && transpose && w !== embedQ) {
          const s = ops.shape(xi);
          h.add(ops.read(xi), s[0]! * s[1]!);
        }
      },
      attention: (q) => {
        const [T, H, D] = ops.shape(q) as [number, number, number];
        const qv = ops.read(q);
        const buf = new Float32Array(T * c.nope);
        for (let hh = 0; hh < H; hh++) {
          for (let t = 0; t < T; t++) buf.set(qv.subarray((t * H + hh) * D, (t * H + hh) * D + c.nope), t * c.nope);
          perHead[hh]!.add(buf, T);
        }
      },
    });
    const floatModel = new DeepseekV3Model(tapped, new ModelWeights(srcW), c, this.modelType, this.prefix);
    for (let s = 0; s < seqs; s++) {
      const h = ops.rmsNorm(this.rows(x, s * seqLen, seqLen, d), inNorm, c.eps);
      floatModel.attention(l, A, h, floatModel.newCache());
    }
    tick('attention');
    await turn();

    // ---- attention: quantize, then run again with the quantized weights ----
    const qW = new Map<string, Weight>();
    for (const p of attnLinears) {
      const shape = shapes.get(p)!;
      qW.set(`${A}.${p}.weight`, this.weight(mods.weights(`${A}.${p}`, 0, shape[0]!, own(hess.get(srcW.get(`${A}.${p}.weight`)!)!)), shape));
    }
    for (const p of ['embed_q', 'unembed_out'] as const) {
      const shape = shapes.get(p)!;
      const [H, rows, cols] = shape as [number, number, number];
      const vals = new Float32Array(H * rows * cols);
      const shared = hess.get(srcW.get(`${A}.${p}.weight`)!)!;
      for (let hh = 0; hh < H; hh++) vals.set(mods.weights(`${A}.${p}`, hh, rows, own(p === 'embed_q' ? perHead[hh]! : shared)), hh * rows * cols);
      qW.set(`${A}.${p}.weight`, this.weight(vals, shape));
    }
    for (const n of ['q_a_layernorm', 'kv_a_layernorm']) if (srcW.has(`${A}.${n}.weight`)) qW.set(`${A}.${n}.weight`, srcW.get(`${A}.${n}.weight`)!);
    const qModel = new DeepseekV3Model(ops, new ModelWeights(qW), c, this.modelType, this.prefix);
    const x2 = new Float32Array(tokens * d);
    for (let s = 0; s < seqs; s++) {
      const xs = this.rows(x, s * seqLen, seqLen, d);
      const a = qModel.attention(l, A, ops.rmsNorm(xs, inNorm, c.eps), qModel.newCache());
      x2.set(ops.read(ops.add(xs, a)), s * seqLen * d);
    }
    const postNorm = this.vector(mods, `${L}.post_attention_layernorm.weight`);
    const h2 = new Float32Array(tokens * d);
    for (let s = 0; s < seqs; s++) h2.set(ops.read(ops.rmsNorm(this.rows(x2, s * seqLen, seqLen, d), postNorm, c.eps)), s * seqLen * d);
    tick('attention quantized');
    await turn();

    // ---- MLP ----
    const inH = new Hessian(d);
    inH.add(h2, tokens);
    const M = `${L}.mlp`;
    const out = x2;
    if (!isMoeLayer(c, l)) {
      this.addInto(out, this.mlp(mods, M, h2, tokens, inH, seqLen));
      tick('mlp');
      return out;
    }
    if (c.sharedExperts > 0) this.addInto(out, this.mlp(mods, `${M}.shared_experts`, h2, tokens, inH, seqLen));
    const route = this.route(mods, M, h2, tokens, seqLen);
    await this.experts(mods, M, h2, route, inH, out, tick);
    return out;
  }

  /** The head block: lm_head against the final normed hidden states. */
  head(mods: BlockModules, input: LayerInput): void {
    const { ops, c } = this;
    const d = c.hidden;
    const norm = this.vector(mods, `${this.prefix}model.norm.weight`);
    const hs = new Hessian(d);
    for (let s = 0; s < input.tokens / input.seqLen; s++) hs.add(ops.read(ops.rmsNorm(this.rows(input.x, s * input.seqLen, input.seqLen, d), norm, c.eps)), input.seqLen);
    const m = mods.module(this.headModule);
    mods.weights(this.headModule, 0, m.entries[0]!.shape[0]!, own(hs), false);
  }

  private addInto(a: Float32Array, b: Float32Array): void {
    for (let i = 0; i < a.length; i++) a[i] += b[i]!;
  }

  /** y = x·Wᵀ for x [tokens, in] in chunks of `chunk` rows. */
  private matmul(x: Float32Array, tokens: number, w: Weight, inDim: number, outDim: number, chunk: number): Float32Array {
    const y = new Float32Array(tokens * outDim);
    for (let t = 0; t < tokens; t += chunk) {
      const n = Math.min(chunk, tokens - t);
      y.set(this.ops.read(this.ops.linear(this.rows(x, t, n, inDim), w)), t * outDim);
    }
    return y;
  }

  private swiglu(x: Float32Array, tokens: number, gate: Weight, up: Weight, inDim: number, inter: number, chunk: number): Float32Array {
    const y = new Float32Array(tokens * inter);
    for (let t = 0; t < tokens; t += chunk) {
      const n = Math.min(chunk, tokens - t);
      const xs = this.rows(x, t, n, inDim);
      y.set(this.ops.read(this.ops.swiglu(this.ops.linear(xs, gate), this.ops.linear(xs, up))), t * inter);
    }
    return y;
  }

  /** A dense SwiGLU MLP (dense layer or shared experts), quantized in order: gate/up, then down on their output. */
  private mlp(mods: BlockModules, P: string, h2: Float32Array, tokens: number, inH: Hessian, chunk: number): Float32Array {
    const d = this.c.hidden;
    const inter = mods.module(`${P}.gate_proj`).entries[0]!.shape[0]!;
    const gate = this.weight(mods.weights(`${P}.gate_proj`, 0, inter, own(inH)), [inter, d]);
    const up = this.weight(mods.weights(`${P}.up_proj`, 0, inter, own(inH)), [inter, d]);
    const hidden = this.swiglu(h2, tokens, gate, up, d, inter, chunk);
    const downH = new Hessian(inter);
    downH.add(hidden, tokens);
    const down = this.weight(mods.weights(`${P}.down_proj`, 0, d, own(downH)), [d, inter]);
    return this.matmul(hidden, tokens, down, inter, d, chunk);
  }

  private route(mods: BlockModules, M: string, h2: Float32Array, tokens: number, chunk: number): Route {
    const { ops, c } = this;
    const gate = this.weight(mods.tensor(`${M}.gate.weight`), [c.experts, c.hidden]);
    const bias = this.vector(mods, `${M}.gate.e_score_correction_bias`);
    const indices = new Int32Array(tokens * c.topK);
    const weights = new Float32Array(tokens * c.topK);
    for (let t = 0; t < tokens; t += chunk) {
      const n = Math.min(chunk, tokens - t);
      const r = ops.routeNoAuxTc(ops.linear(this.rows(h2, t, n, c.hidden), gate), bias, {
        topK: c.topK, nGroup: c.nGroup, topkGroup: c.topkGroup, normTopkProb: c.normTopkProb, routedScalingFactor: c.routedScalingFactor,
      });
      indices.set(r.indices, t * c.topK);
      weights.set(r.weights, t * c.topK);
    }
    return { tokens, k: c.topK, indices, weights };
  }

  /** Routed experts, one at a time; adds Σ weight · expert(x) into `out`. */
  private async experts(mods: BlockModules, M: string, h2: Float32Array, route: Route, inH: Hessian, out: Float32Array, tick: (detail: string) => void): Promise<void> {
    const { c } = this;
    const d = c.hidden;
    const inter = c.moeIntermediate;
    const E = c.experts;
    const rowsOf: number[][] = Array.from({ length: E }, () => []);
    const wOf: number[][] = Array.from({ length: E }, () => []);
    for (let i = 0; i < route.indices.length; i++) {
      rowsOf[route.indices[i]!]!.push(Math.floor(i / route.k));
      wOf[route.indices[i]!]!.push(route.weights[i]!);
    }
    const gather = (rows: number[]) => {
      const xe = new Float32Array(rows.length * d);
      rows.forEach((r, i) => xe.set(h2.subarray(r * d, (r + 1) * d), i * d));
      return xe;
    };
    const P = `${M}.switch_mlp`;
    const calibrated = isCalibrated(mods.module(`${P}.down_proj`));
    // The prior of the down projections: hidden states of every routed token through its expert's source gate/up.
    const pooled = new Hessian(inter);
    if (calibrated) {
      for (let e = 0; e < E; e++) {
        if (rowsOf[e]!.length === 0) continue;
        const g = this.weight(mods.sourceRows(mods.module(`${P}.gate_proj`), e * inter, inter), [inter, d]);
        const u = this.weight(mods.sourceRows(mods.module(`${P}.up_proj`), e * inter, inter), [inter, d]);
        pooled.add(this.swiglu(gather(rowsOf[e]!), rowsOf[e]!.length, g, u, d, inter, 512), rowsOf[e]!.length);
      }
      tick('experts: down-projection prior');
      await turn();
    }
    for (let e = 0; e < E; e++) {
      const rows = rowsOf[e]!;
      const n = rows.length;
      const xe = gather(rows);
      const ownIn = new Hessian(d);
      if (n > 0) ownIn.add(xe, n);
      const hIn: SliceHessian = { h: shrinkHessian(ownIn, inH), tokens: n, fallback: n === 0 };
      const g = mods.weights(`${P}.gate_proj`, e, inter, hIn);
      const u = mods.weights(`${P}.up_proj`, e, inter, hIn);
      const hidden = n > 0 ? this.swiglu(xe, n, this.weight(g, [inter, d]), this.weight(u, [inter, d]), d, inter, 512) : new Float32Array(0);
      const ownDown = new Hessian(inter);
      if (n > 0) ownDown.add(hidden, n);
      const dn = mods.weights(`${P}.down_proj`, e, d, { h: shrinkHessian(ownDown, pooled), tokens: n, fallback: n === 0 });
      if (n > 0) {
        const y = this.matmul(hidden, n, this.weight(dn, [d, inter]), inter, d, 512);
        rows.forEach((r, i) => {
          const wt = wOf[e]![i]!;
          for (let j = 0; j < d; j++) out[r * d + j] += wt * y[i * d + j]!;
        });
      }
      tick(`experts ${e + 1}/${E}`);
      await turn();
    }
  }
}

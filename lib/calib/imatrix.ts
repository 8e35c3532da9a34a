// `mlxk imatrix`: the model's own forward pass over calibration windows, with an Ops tap
// (tap.ts) summing x² per input column of every linear layer — llama.cpp's importance
// matrix (imatrix.cpp: Σ over tokens of each column's squared input, and the token count).
// Routed experts are counted per expert, over the tokens routed there only; MLA's per-head
// products per head, with the inputs of their absorbed form as llama.cpp's deepseek2 graph
// feeds them (embed_q: each head's q_nope; unembed_out: each head's attention output over
// the kv latent). The pass streams: the windows go through the model together in passes of at
// most `passTokens` tokens (each window with its own fresh cache), layer by layer, and only the
// layer being run is loaded (lib/models/streamedWeights.ts), so memory holds one layer's weights
// and one pass's activations whatever the model's depth; only the sums outlive a pass.
import type { ExpertWeights, Ops, Route, Tensor, Weight } from '../backend/ops.js';
import { Checkpoint } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { builderOf } from '../models/load.js';
import { tensorTable } from '../models/registry.js';
import { StreamedWeights } from '../models/streamedWeights.js';
import type { ColumnImportance } from '../quant/stats.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { type CalibrationSet, calibrationIds, calibrationWindows } from './calibText.js';
import { type OpsTap, tapOps } from './tap.js';

export interface ImatrixOptions {
  calib: CalibrationSet;
  /** Tokens per window (each window starts with an empty cache). */
  seqLen: number;
  /** Most tokens used, in windows spread over the set. */
  maxTokens: number;
  /** Most tokens run through the model together (whole windows; at least one window a pass): bounds the activations held. */
  passTokens: number;
  onProgress?: (p: ImatrixProgress) => void;
  signal?: AbortSignal;
}

export interface ImatrixProgress {
  /** Decoder layers run so far over all passes, of passes × layers. */
  layersDone: number;
  layersTotal: number;
  pass: number;
  passes: number;
  /** Calibration tokens finished (whole passes) per second so far. */
  tokensPerSecond: number;
}

/** Experts of one stacked module that calibration reached rarely or never. */
export interface ExpertCoverage {
  /** The layer's switch_mlp prefix (gate/up/down share their counts). */
  module: string;
  experts: number;
  /** Experts no token was routed to. */
  unseen: number[];
  /** Experts with fewer than a tenth of the layer's average tokens (but some). */
  few: number[];
  minTokens: number;
  maxTokens: number;
}

export interface ImatrixResult {
  importance: Map<string, ColumnImportance>;
  tokens: number;
  windows: number;
  seqLen: number;
  /** Passes over the model (each reads its weights once). */
  passes: number;
  seconds: number;
  coverage: ExpertCoverage[];
}

/** Σ x² per column over rows of `data` (row r at base + r·rowStride), added to slice `slice`. */
function addColumns(acc: ColumnImportance, slice: number, data: Float32Array, base: number, rowStride: number, rows: number, scratch: Float64Array): void {
  const cols = acc.cols;
  scratch.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const o = base + r * rowStride;
    for (let j = 0; j < cols; j++) {
      const v = data[o + j]!;
      scratch[j]! += v * v;
    }
  }
  const out = acc.sumSq;
  const off = slice * cols;
  for (let j = 0; j < cols; j++) out[off + j]! += scratch[j]!;
  acc.tokens[slice]! += rows;
}

/** Collects the statistics through an Ops tap, keyed by module path (the weight's name without `.weight`). */
export class ImportanceGatherer {
  readonly importance = new Map<string, ColumnImportance>();
  private scratch = new Float64Array(0);
  /** MLA prefill: embed_q's absorbed input is in q, unembed_out's needs the latent; both are met at the next attention. */
  private pendingEmbedQ: { module: string; nope: number } | null = null;
  private pendingUnembed: { module: string; latent: Tensor; v: Tensor } | null = null;

  /** `weightName` gives a weight's table name (`….weight`), or undefined for weights not to count. */
  constructor(private readonly ops: Ops, private readonly weightName: (w: Weight) => string | undefined) {}

  /** The module path of a weight (its name without `.weight`). */
  private moduleOf(w: Weight): string | undefined {
    const name = this.weightName(w);
    return name?.endsWith('.weight') ? name.slice(0, -'.weight'.length) : undefined;
  }

  /** The head's inputs (the final normed hidden states [T, hidden]) for `module`, lm_head or the tied embedding. */
  head(h: Tensor, module: string): void {
    const [, cols] = this.ops.shape(h) as [number, number];
    const data = this.ops.read(h);
    addColumns(this.acc(module, 1, cols), 0, data, 0, cols, data.length / cols, this.scratch);
  }

  private acc(module: string, slices: number, cols: number): ColumnImportance {
    let a = this.importance.get(module);
    if (!a) {
      a = { cols, slices, sumSq: new Float32Array(slices * cols), tokens: new Float64Array(slices) };
      this.importance.set(module, a);
    }
    if (this.scratch.length < cols) this.scratch = new Float64Array(cols);
    return a;
  }

  /** The stacked input axis of a weight [..., in]. */
  private cols(w: Weight): number {
    const s = this.ops.weightShape(w);
    return s[s.length - 1]!;
  }

  tap(): OpsTap {
    const { ops } = this;
    return {
      linear: (x, w) => {
        const module = this.moduleOf(w);
        if (!module) return;
        const cols = this.cols(w);
        const data = ops.read(x);
        addColumns(this.acc(module, 1, cols), 0, data, 0, cols, data.length / cols, this.scratch);
      },
      perHeadLinear: (x, w, transpose, y) => {
        const module = this.moduleOf(w);
        if (!module) return;
        const [H, , inDim] = ops.weightShape(w) as [number, number, number];
        const [T, xh] = ops.shape(x) as [number, number, number];
        if (!transpose) {
          this.pendingEmbedQ = { module, nope: inDim };
        } else if (xh === 1 && H > 1) {
          this.pendingUnembed = { module, latent: x, v: y };
        } else {
          const data = ops.read(x);
          const a = this.acc(module, H, inDim);
          for (let h = 0; h < H; h++) addColumns(a, h, data, h * inDim, H * inDim, T, this.scratch);
        }
      },
      attention: (q, k, v, scale) => {
        const [T, H, D] = ops.shape(q) as [number, number, number];
        if (this.pendingEmbedQ) {
          const { module, nope } = this.pendingEmbedQ;
          const data = ops.read(q);
          const a = this.acc(module, H, nope);
          for (let h = 0; h < H; h++) addColumns(a, h, data, h * D, H * D, T, this.scratch);
          this.pendingEmbedQ = null;
        }
        const u = this.pendingUnembed;
        if (u && u.v === v) {
          const [S, , rank] = ops.shape(u.latent) as [number, number, number];
          // Σ_s a_hs·latent_s per head: what unembed_out multiplies in the absorbed form.
          const o = ops.read(ops.attention(q, k, ops.broadcast(u.latent, [S, H, rank]), scale));
          const a = this.acc(u.module, H, rank);
          for (let h = 0; h < H; h++) addColumns(a, h, o, h * rank, H * rank, T, this.scratch);
          this.pendingUnembed = null;
        }
      },
      moe: (x, route, experts) => this.moe(x, route, experts),
    };
  }

  /** The routed experts as gathered products, summing each expert's inputs over the tokens routed to it. */
  private moe(x: Tensor, route: Route, experts: ExpertWeights): Tensor {
    const { ops } = this;
    const [T, hidden] = ops.shape(x) as [number, number];
    const P = route.tokens * route.k;
    const rows = Int32Array.from({ length: P }, (_, p) => Math.floor(p / route.k));
    const slices = route.indices;
    const [E, inter] = ops.weightShape(experts.gate) as [number, number, number];
    const byExpert: number[][] = Array.from({ length: E }, () => []);
    for (let p = 0; p < P; p++) byExpert[slices[p]!]!.push(p);
    const gate = this.moduleOf(experts.gate);
    const up = this.moduleOf(experts.up);
    const down = this.moduleOf(experts.down);

    const xv = ops.read(x);
    const h = ops.swiglu(ops.gatherLinear(x, experts.gate, rows, slices), ops.gatherLinear(x, experts.up, rows, slices));
    const hv = ops.read(h);
    if (gate && up && down) {
      const inAcc = this.acc(gate, E, hidden);
      const downAcc = this.acc(down, E, inter);
      this.importance.set(up, inAcc); // gate and up read the same rows: one object for both
      for (let e = 0; e < E; e++) {
        const ps = byExpert[e]!;
        if (ps.length === 0) continue;
        // Gather the expert's rows, then sum them in one pass each.
        const xe = new Float32Array(ps.length * hidden);
        const he = new Float32Array(ps.length * inter);
        ps.forEach((p, i) => {
          xe.set(xv.subarray(rows[p]! * hidden, (rows[p]! + 1) * hidden), i * hidden);
          he.set(hv.subarray(p * inter, (p + 1) * inter), i * inter);
        });
        addColumns(inAcc, e, xe, 0, hidden, ps.length, this.scratch);
        addColumns(downAcc, e, he, 0, inter, ps.length, this.scratch);
      }
    }
    const y = ops.read(ops.gatherLinear(h, experts.down, Int32Array.from({ length: P }, (_, p) => p), slices));
    const out = new Float32Array(T * hidden);
    for (let p = 0; p < P; p++) {
      const w = route.weights[p]!;
      const t = rows[p]!;
      for (let j = 0; j < hidden; j++) out[t * hidden + j]! += w * y[p * hidden + j]!;
    }
    return ops.constant(out, [T, hidden]);
  }
}

/** Experts that calibration reached rarely or never, per stacked module (reported once per switch_mlp). */
export function expertCoverage(importance: ReadonlyMap<string, ColumnImportance>): ExpertCoverage[] {
  const out: ExpertCoverage[] = [];
  for (const [module, a] of importance) {
    if (a.slices <= 1 || !module.endsWith('.switch_mlp.gate_proj')) continue;
    const counts = Array.from(a.tokens);
    const mean = counts.reduce((s, c) => s + c, 0) / counts.length;
    out.push({
      module: module.slice(0, -'.gate_proj'.length),
      experts: a.slices,
      unseen: counts.flatMap((c, e) => (c === 0 ? [e] : [])),
      few: counts.flatMap((c, e) => (c > 0 && c < mean / 10 ? [e] : [])),
      minTokens: Math.min(...counts),
      maxTokens: Math.max(...counts),
    });
  }
  return out;
}

/** Windows in passes of at most `passTokens` tokens (whole windows, at least one a pass). */
function passesOf(windows: number[][], passTokens: number): number[][][] {
  const passes: number[][][] = [];
  let tokens = Infinity;
  for (const w of windows) {
    if (tokens + w.length > passTokens) {
      passes.push([]);
      tokens = 0;
    }
    passes[passes.length - 1]!.push(w);
    tokens += w.length;
  }
  return passes;
}

/** Runs the model in `modelDir` over the calibration windows and returns its importance matrix. */
export async function gatherImportance(modelDir: string, ops: Ops, opts: ImatrixOptions): Promise<ImatrixResult> {
  const ckpt = Checkpoint.open(modelDir);
  let weights: StreamedWeights | null = null;
  try {
    const where = `${ckpt.dir}/config.json`;
    const table = tensorTable(ckpt.config, where);
    const build = builderOf(table.modelType, where);
    // Bounded before any weight is read: the set is tokenized and cut into windows first.
    const windows = calibrationWindows(calibrationIds(opts.calib, loadTokenizer(ckpt.dir)), opts.calib, ckpt.config, { seqLen: opts.seqLen, maxTokens: opts.maxTokens });
    const passes = passesOf(windows, opts.passTokens);
    // The head's input is counted from the hidden states the pass returns (no tokens × vocab logits);
    // with tied embeddings the embedding is the head, as in llama.cpp's graph.
    const headName = table.entries.find((e) => e.role !== 'vision' && /(^|\.)lm_head\.weight$/.test(e.name))?.name
      ?? table.entries.find((e) => /(^|\.)embed_tokens\.weight$/.test(e.name))!.name;
    const started = performance.now();
    let pass = 0;
    let layersDone = 0;
    let tokens = 0;
    let layers = 0;
    weights = new StreamedWeights(ckpt, table, ops, {
      onLoad: (group) => {
        if (!group.startsWith('layer ')) return;
        layersDone++;
        opts.onProgress?.({ layersDone, layersTotal: passes.length * layers, pass: pass + 1, passes: passes.length, tokensPerSecond: tokens / ((performance.now() - started) / 1000) });
      },
    });
    const streamed = weights;
    const gatherer = new ImportanceGatherer(ops, (w) => streamed.nameOf(w));
    const model = build(tapOps(ops, gatherer.tap()), weights, ckpt.config, table.modelType);
    layers = model.info.numLayers;
    for (; pass < passes.length; pass++) {
      if (opts.signal?.aborted) throw new MlxkError('imatrix: interrupted; nothing was written');
      const items = passes[pass]!.map((ids) => ({ ids, cache: model.newCache() }));
      const h = model.forwardBatch(items, { hidden: true });
      gatherer.head(h, headName.slice(0, -'.weight'.length));
      weights.release();
      tokens += items.reduce((n, i) => n + i.ids.length, 0);
      await ops.reclaim();
    }
    return { importance: gatherer.importance, tokens, windows: windows.length, seqLen: opts.seqLen, passes: passes.length, seconds: (performance.now() - started) / 1000, coverage: expertCoverage(gatherer.importance) };
  } finally {
    weights?.release();
    ckpt.close();
  }
}

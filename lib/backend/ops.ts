// The ops interface: everything model code computes goes through these calls, so
// one forward pass runs on either backend (`mlx` on @frost-beta/mlx, `native` on
// our own kernels). Tensors and weights are opaque handles owned by a backend.
//
// Conventions every implementation keeps:
// - Tensors are immutable values: no op changes its inputs, except writeRows, which
//   consumes its buffer (KV caches grow in place instead of being copied every step).
// - Activations are float32 and token-major: a sequence of T tokens is [T, hidden];
//   per-head tensors are [T, heads, dim]. A batched step (several sequences at once) puts
//   their tokens one sequence after another along the same axis (ragged, no padding), so
//   every per-token op batches by itself; only rope and raggedAttention need the
//   sequence boundaries (`Segment`s), and MoE routes all tokens of all sequences together,
//   reading each expert once per step.
// - Weights use the MLX checkpoint layout (see lib/models/table.ts): a linear weight is
//   [out, in], stacked experts [E, out, in], per-head weights [H, out, in]; a quantized
//   weight is MLX affine along its last (input) axis.

/** An activation or raw tensor owned by a backend. */
export interface Tensor {
  readonly __tensor: unique symbol;
}

/** A parameter prepared for compute: dense float, or MLX-affine quantized. */
export interface Weight {
  readonly __weight: unique symbol;
}

/** Positions' rotation frequencies, prepared once per model. */
export interface RopeTable {
  readonly __rope: unique symbol;
}

export interface AffineParts {
  /** uint32 words, [..., in·bits/32] */
  weight: Tensor;
  /** [..., in/groupSize] */
  scales: Tensor;
  biases: Tensor;
  bits: number;
  groupSize: number;
  /** Logical (dequantized) shape, e.g. [out, in] or [E, out, in]. */
  shape: number[];
}

export interface RopeSpec {
  /** One frequency per rotated pair (dims/2 values), scaling already applied (yarn, llama3, …). */
  invFreq: number[];
  /** Multiplies cos and sin (yarn's attention factor; 1 otherwise). */
  scale: number;
  /**
   * true: rotate adjacent pairs (x[2i], x[2i+1]) — GPT-J / DeepSeek / MLX "traditional".
   * false: rotate (x[i], x[i+d/2]) — GPT-NeoX / Llama in HF layout.
   */
  interleaved: boolean;
}

/** The experts a token goes to and their weights: `k` slots per token, row-major [T, k]. */
export interface Route {
  tokens: number;
  k: number;
  indices: Int32Array;
  weights: Float32Array;
}

/** One sequence of a batched step: `tokens` consecutive rows of the activations, at positions offset…offset+tokens−1. */
export interface Segment {
  tokens: number;
  offset: number;
}

export interface NoAuxRouteOptions {
  topK: number;
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
}

export interface ExpertWeights {
  /** [E, inter, hidden] */
  gate: Weight;
  /** [E, inter, hidden] */
  up: Weight;
  /** [E, hidden, inter] */
  down: Weight;
}

/** The sizes and constants of a DeepSeek-V3 decoder layer (MlaLayerWeights, and the native addon's descriptor). */
export interface MlaDims {
  hidden: number;
  heads: number;
  /** qk_nope_head_dim, qk_rope_head_dim, kv_lora_rank, v_head_dim */
  nope: number;
  rope: number;
  rank: number;
  vDim: number;
  /** rms_norm_eps; mlaEps for q_a_layernorm and kv_a_layernorm */
  eps: number;
  mlaEps: number;
  /** softmax scale */
  scale: number;
}

/**
 * One DeepSeek-V3 decoder layer as Ops.mlaLayers takes it: lib/models/deepseek_v3.ts's weights
 * (MLX names in comments) and shapes. Norm weights and the router bias are 1-D weights. A descriptor
 * is never changed once made (a backend may remember what it prepared from the object); a changed
 * layer is a new object.
 */
export interface MlaLayerWeights extends MlaDims {
  ropeTable: RopeTable;
  inputNorm: Weight;
  /** q_proj, or q_a_proj → q_a_layernorm → q_b_proj */
  q?: Weight;
  qA?: Weight;
  qANorm?: Weight;
  qB?: Weight;
  kvA: Weight;
  kvANorm: Weight;
  embedQ: Weight;
  unembedOut: Weight;
  oProj: Weight;
  postNorm: Weight;
  /** The dense SwiGLU MLP, or a MoE layer's shared experts. */
  mlp?: { gate: Weight; up: Weight; down: Weight };
  moe?: { router: Weight; bias: Weight; experts: ExpertWeights; route: NoAuxRouteOptions };
}

/** Tensors held in memory of their own (Ops.keep). */
export interface KeptTensors<T = Tensor> {
  tensors: T[];
  /** Bytes the memory can make resident (whole pages). */
  bytes: number;
  /** Returns the memory now; idempotent. */
  release(): void;
}

export interface Ops {
  readonly name: string;

  // ---- data in and out ----
  /** Token ids as an integer tensor [T]. */
  ids(ids: readonly number[]): Tensor;
  /** A float32 constant of the given shape (values row-major). */
  constant(values: ArrayLike<number>, shape: number[]): Tensor;
  /** Evaluates and copies a tensor out as float32, row-major. */
  read(x: Tensor): Float32Array;
  shape(x: Tensor): number[];
  /** Forces evaluation of lazy tensors and weights (loading, timing, keeping graphs short); a no-op for eager backends. */
  evaluate(...xs: (Tensor | Weight)[]): void;
  /**
   * Frees the memory of tensors no longer referenced. Await it between steps of any long
   * loop (weights loaded, tokens decoded): a backend whose tensors are garbage-collected
   * handles releases their memory only here; others resolve at once. `full` also collects
   * long-lived handles (weights of a model just dropped); a minor collection never reaches them.
   */
  reclaim(opts?: { full?: boolean }): Promise<void>;
  /**
   * Bytes of memory that keeping these tensors holds: the whole storage behind each view, each
   * storage once (a KV cache's buffer grows in blocks, so its views hold more than their rows).
   * Backends that cannot see storage leave it out; callers then count the tensors' own sizes.
   */
  heldBytes?(xs: Tensor[]): number;
  /**
   * float32 copies of `xs` in memory the backend maps itself, for data kept long and dropped at
   * known times (the prompt cache): release() returns its pages to the OS at once, where memory
   * freed to the allocator may stay resident. Views of released tensors read nothing. Backends
   * without such memory leave it out.
   */
  keep?(xs: Tensor[]): KeptTensors;

  // ---- weights ----
  /** Lazily opens a safetensors file: name → raw tensor in its stored dtype. */
  loadSafetensors(path: string): Map<string, Tensor>;
  /**
   * Lets go of the pages of raw tensors from loadSafetensors that a streamed pass has finished
   * with (they are read from the file again if touched). Backends that copy on load leave it out.
   */
  dropPages?(raw: Tensor[]): void;
  /**
   * Frees the memory behind weights a streamed pass has finished with, now rather than when the
   * collector reaches them; using them afterwards is an error. Backends whose memory the
   * collector frees promptly leave it out.
   */
  dispose?(weights: Weight[]): void;
  /** A dense weight from a raw float tensor (converted to the compute dtype). */
  dense(t: Tensor): Weight;
  /** A quantized weight; every bit width 2..8 and group sizes dividing `in` are accepted. */
  affine(parts: AffineParts): Weight;
  /** The logical shape of a weight. */
  weightShape(w: Weight): number[];

  // ---- tensor plumbing (also used to assemble weights from HF layouts) ----
  reshape(x: Tensor, shape: number[]): Tensor;
  /** x[start:end] along `axis` (negative axes count from the end). */
  slice(x: Tensor, axis: number, start: number, end: number): Tensor;
  concat(xs: Tensor[], axis: number): Tensor;
  stack(xs: Tensor[], axis: number): Tensor;
  transpose(x: Tensor, axes: number[]): Tensor;
  broadcast(x: Tensor, shape: number[]): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  /** A float32 tensor of zeros. */
  zeros(shape: number[]): Tensor;
  /**
   * `buffer` with rows at..at+n−1 (axis 0) replaced by `rows` [n, ...]. The buffer is
   * consumed: the caller uses only the result afterwards, so the backend may write in place.
   */
  writeRows(buffer: Tensor, rows: Tensor, at: number): Tensor;

  // ---- layers ----
  /** Rows of an embedding table (dense or quantized) for integer ids [T] → [T, hidden]. */
  embedding(table: Weight, ids: Tensor): Tensor;
  /** x / rms(x) · weight over the last axis. */
  rmsNorm(x: Tensor, weight: Weight, eps: number): Tensor;
  /** x [..., in] · Wᵀ (+ bias) → [..., out] for W [out, in]. */
  linear(x: Tensor, w: Weight, bias?: Weight): Tensor;
  /**
   * Per-head linear for W [H, out, in] (mlx-lm MultiLinear): x [T, H or 1, in] → [T, H, out]
   * computing x·W[h]ᵀ; with transpose=false, x [T, H or 1, out] · W[h] → [T, H, in].
   * A head axis of 1 in x is shared by all heads.
   */
  perHeadLinear(x: Tensor, w: Weight, transpose: boolean): Tensor;
  prepareRope(spec: RopeSpec): RopeTable;
  /**
   * Rotates x [T, heads, dims] (dims = 2·invFreq.length) for positions offset..offset+T-1, or,
   * given segments (Σ tokens = T), each segment's rows for its own positions.
   */
  rope(x: Tensor, table: RopeTable, offset: number | readonly Segment[]): Tensor;
  /**
   * Causal scaled-dot-product attention. q [T, Hq, D], k [S, Hkv, D], v [S, Hkv, Dv] with
   * Hq a multiple of Hkv (grouped-query; Hkv = 1 is multi-query) → [T, Hq, Dv]. Query t sits at
   * position S − T + t and sees keys 0..S − T + t. Softmax in float32.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor;
  /**
   * `attention` for several sequences in one call: q [Σ T_b, Hq, D] holds segment b's T_b
   * queries after those of the segments before it; keys[b] [S_b, Hkv, D] and values[b]
   * [S_b, Hkv, Dv] are its own (e.g. views of its cache). → [Σ T_b, Hq, Dv].
   */
  raggedAttention(q: Tensor, keys: readonly Tensor[], values: readonly Tensor[], segments: readonly Segment[], scale: number): Tensor;
  /** silu(gate) · up */
  swiglu(gate: Tensor, up: Tensor): Tensor;

  // ---- mixture of experts ----
  /**
   * DeepSeek-V3 noaux_tc routing on router logits [T, E]: scores = sigmoid(logits) in float32;
   * choice = scores + bias (selection only); keep the topkGroup groups (of nGroup) with the
   * largest sum of their top-2 choices; take the topK largest choices among them; weights are
   * the chosen unbiased scores, divided by their sum (+1e-20) when normTopkProb, times
   * routedScalingFactor (transformers DeepseekV3TopkRouter).
   */
  routeNoAuxTc(logits: Tensor, bias: Weight, opts: NoAuxRouteOptions): Route;
  /** softmax(logits [T, E]) in float32, the topK largest, renormalized to sum 1 when norm (Qwen3-MoE). */
  routeSoftmaxTopK(logits: Tensor, topK: number, norm: boolean): Route;
  /** Σ_k route.weight · down(silu(gate(x)) · up(x)) over each token's chosen experts; x [T, hidden]. */
  moe(x: Tensor, route: Route, experts: ExpertWeights): Tensor;
  /**
   * Chosen rows through chosen matrices of a stack W [E, out, in]: output row p is
   * x[rows[p]] · W[slices[p]]ᵀ → [P, out] for x [T, in]. What moe computes inside, for
   * calibration code that needs an expert's inputs (lib/calib/imatrix.ts).
   */
  gatherLinear(x: Tensor, w: Weight, rows: Int32Array, slices: Int32Array): Tensor;

  // ---- whole layers (optional: backends that gain from fewer, larger calls) ----
  /**
   * DeepSeek-V3 decoder layers over a batched step: x [Σ tokens, hidden], segment b's rows at
   * positions offset…offset+tokens−1 (decoding sequences and prompts alike). caches[l][b] is
   * sequence b's latent buffer for layers[l] ([capacity ≥ offset + tokens, 1, rank + rope], rows
   * before offset its cache); its new rows are written (normed latent, then the roped key) and, as
   * with writeRows, the buffers are consumed: the returned ones replace them. Computes what the
   * model's composed layers compute, op for op (lib/models/deepseek_v3.ts), so results are identical.
   */
  mlaLayers?(x: Tensor, layers: readonly MlaLayerWeights[], caches: readonly (readonly Tensor[])[], segments: readonly Segment[]): { out: Tensor; caches: Tensor[][] };
}

/** Each row's position for rope over segments (Σ tokens must be `rows`). */
export function tokenPositions(segments: readonly Segment[], rows: number): Int32Array {
  const out = new Int32Array(rows);
  let i = 0;
  for (const s of segments) {
    if (i + s.tokens > rows) break;
    for (let t = 0; t < s.tokens; t++) out[i++] = s.offset + t;
  }
  if (i !== rows || segments.reduce((a, s) => a + s.tokens, 0) !== rows) throw new Error(`segments of ${segments.map((s) => s.tokens).join('+')} tokens for ${rows} rows`);
  return out;
}

/** Segments cover exactly the query rows, one keys and one values tensor each. */
export function checkSegments(segments: readonly Segment[], rows: number, keys: number, values: number): void {
  const total = segments.reduce((a, s) => a + s.tokens, 0);
  if (total !== rows || keys !== segments.length || values !== segments.length || segments.some((s) => !Number.isInteger(s.tokens) || s.tokens < 1)) {
    throw new Error(`raggedAttention: ${segments.length} segments of ${segments.map((s) => s.tokens).join('+')} tokens for ${rows} query rows, with ${keys} keys and ${values} values tensors`);
  }
}

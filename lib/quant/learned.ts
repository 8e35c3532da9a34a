// Layer-wise learned rounding, the JavaScript reference of native/src/gptq.cc's
// refit and coordinate descent. Both minimise the layer's output error
// tr(ΔW·H·ΔWᵀ) row by row (rows are independent given H), keeping g = H·e for the
// row's error e = ŵ − w, the half-gradient of eᵀHe:
// - refit: with the integer codes fixed, block coordinate descent over the groups'
//   (scale, bias) — each group's 2×2 normal equations given the others — then rounding
//   to the storage dtype; kept only when the rounded result is better.
// - coordinate descent on the codes (QuantEase-style): for column j the exact 1-D
//   minimiser over the integer grid is round(code − g_j / (H_jj·scale)), clamped; a move
//   is taken when it lowers the objective, and g is updated by the column H[:, j].
// Each round is one code sweep and one refit, so the objective never rises.
import { rint, type StorageRounding } from './affine.js';
import type { QuantCodes } from './gptq.js';

export interface RefineOptions {
  bits: number;
  groupSize: number;
  store: StorageRounding;
}

class RowState {
  readonly e: Float64Array;
  readonly g: Float64Array;
  obj = 0;

  constructor(readonly n: number) {
    this.e = new Float64Array(n);
    this.g = new Float64Array(n);
  }

  /** e = ŵ − w, g = H·e and the objective eᵀHe for row r. */
  load(w: Float32Array, r: number, q: QuantCodes, gs: number, h: Float64Array): void {
    const { n, e, g } = this;
    const groups = n / gs;
    for (let j = 0; j < n; j++) {
      const k = r * groups + Math.floor(j / gs);
      e[j] = q.scales[k]! * q.codes[r * n + j]! + q.biases[k]! - w[r * n + j]!;
    }
    // g = H·e as a sum of rows of the symmetric H (the order native/src/gptq.cc vectorizes).
    g.fill(0);
    for (let j = 0; j < n; j++) {
      const ej = e[j]!;
      if (ej === 0) continue;
      for (let i = 0; i < n; i++) g[i] += ej * h[j * n + i]!;
    }
    let obj = 0;
    for (let i = 0; i < n; i++) obj += e[i]! * g[i]!;
    this.obj = obj;
  }
}

/** Block coordinate descent over a row's group (scale, bias), `sweeps` passes, in float64. */
function refitContinuous(st: RowState, r: number, q: QuantCodes, gs: number, h: Float64Array, s: Float64Array, b: Float64Array, sweeps: number): void {
  const { n, e, g } = st;
  const groups = n / gs;
  const de = new Float64Array(gs);
  for (let sweep = 0; sweep < sweeps; sweep++) {
    for (let k = 0; k < groups; k++) {
      const o = k * gs;
      let a11 = 0;
      let a12 = 0;
      let a22 = 0;
      let r1 = 0;
      let r2 = 0;
      for (let i = 0; i < gs; i++) {
        const qi = q.codes[r * n + o + i]!;
        let hq = 0;
        let h1 = 0;
        for (let j = 0; j < gs; j++) {
          const hij = h[(o + i) * n + o + j]!;
          hq += hij * q.codes[r * n + o + j]!;
          h1 += hij;
        }
        a11 += qi * hq;
        a12 += qi * h1;
        a22 += h1;
        r1 += qi * g[o + i]!;
        r2 += g[o + i]!;
      }
      const det = a11 * a22 - a12 * a12;
      let ds = 0;
      let db = 0;
      if (det > 1e-12 * a11 * a22) {
        ds = (-r1 * a22 + r2 * a12) / det;
        db = (-r2 * a11 + r1 * a12) / det;
      } else if (a22 > 0) {
        db = -r2 / a22;
      }
      if (ds === 0 && db === 0) continue;
      s[k] += ds;
      b[k] += db;
      for (let i = 0; i < gs; i++) {
        de[i] = ds * q.codes[r * n + o + i]! + db;
        e[o + i] += de[i]!;
      }
      for (let j = 0; j < gs; j++) {
        const dj = de[j]!;
        for (let i = 0; i < n; i++) g[i] += dj * h[(o + j) * n + i]!;
      }
    }
  }
}

/** Refit of row r's (scale, bias) with codes fixed; keeps the stored values unless the rounded refit is better. */
function refitRow(st: RowState, w: Float32Array, r: number, q: QuantCodes, h: Float64Array, opts: RefineOptions, sweeps: number): void {
  const gs = opts.groupSize;
  const groups = st.n / gs;
  const oldS = q.scales.slice(r * groups, (r + 1) * groups);
  const oldB = q.biases.slice(r * groups, (r + 1) * groups);
  const oldObj = st.obj;
  const s = Float64Array.from(oldS);
  const b = Float64Array.from(oldB);
  refitContinuous(st, r, q, gs, h, s, b, sweeps);
  for (let k = 0; k < groups; k++) {
    const rs = opts.store(s[k]!);
    q.scales[r * groups + k] = rs === 0 ? oldS[k]! : rs;
    q.biases[r * groups + k] = opts.store(b[k]!);
  }
  st.load(w, r, q, gs, h);
  if (!(st.obj < oldObj)) {
    q.scales.set(oldS, r * groups);
    q.biases.set(oldB, r * groups);
    st.load(w, r, q, gs, h);
  }
}

/** One coordinate-descent sweep over row r's codes; returns the objective change (≤ 0). */
function codeSweep(st: RowState, r: number, q: QuantCodes, h: Float64Array, opts: RefineOptions): number {
  const { n, e, g } = st;
  const gs = opts.groupSize;
  const groups = n / gs;
  const nBins = (1 << opts.bits) - 1;
  let change = 0;
  for (let j = 0; j < n; j++) {
    const hjj = h[j * n + j]!;
    const s = q.scales[r * groups + Math.floor(j / gs)]!;
    if (!(hjj > 0) || s === 0) continue;
    const c = q.codes[r * n + j]!;
    let c2 = rint(c - g[j]! / (hjj * s));
    c2 = c2 < 0 ? 0 : c2 > nBins ? nBins : c2;
    if (c2 === c) continue;
    const d = s * (c2 - c);
    const dObj = d * (2 * g[j]! + d * hjj);
    if (!(dObj < 0)) continue;
    q.codes[r * n + j] = c2;
    e[j] += d;
    for (let i = 0; i < n; i++) g[i] += d * h[j * n + i]!;
    change += dObj;
  }
  st.obj += change;
  return change;
}

/** Refit of every row's (scale, bias) after rounding (GPTQ's last step); `h` is the damped Hessian. */
export function refitRows(w: Float32Array, rows: number, cols: number, q: QuantCodes, h: Float64Array, opts: RefineOptions, sweeps = 2): void {
  const st = new RowState(cols);
  for (let r = 0; r < rows; r++) {
    st.load(w, r, q, opts.groupSize, h);
    refitRow(st, w, r, q, h, opts, sweeps);
  }
}

/**
 * Learned rounding from a starting quantization (GPTQ's): `iters` rounds of one code sweep and
 * one (scale, bias) refit per row, stopping a row early when a round gains less than 1e-7 of it.
 */
export function learnedRows(w: Float32Array, rows: number, cols: number, q: QuantCodes, h: Float64Array, opts: RefineOptions & { iters: number }): void {
  const st = new RowState(cols);
  for (let r = 0; r < rows; r++) {
    st.load(w, r, q, opts.groupSize, h);
    for (let it = 0; it < opts.iters; it++) {
      const before = st.obj;
      codeSweep(st, r, q, h, opts);
      refitRow(st, w, r, q, h, opts, 1);
      if (!(before - st.obj > 1e-7 * before)) break;
    }
  }
}

/** Σ_rows (ŵ − w)·H·(ŵ − w)ᵀ in float64 (ŵ = scale·code + bias): ‖ΔW·X‖² for H = XᵀX. */
export function hessianObjective(w: Float32Array, rows: number, cols: number, q: QuantCodes, groupSize: number, h: Float64Array): number {
  const st = new RowState(cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    st.load(w, r, q, groupSize, h);
    total += st.obj;
  }
  return total;
}

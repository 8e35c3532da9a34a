// llama.cpp's GGUF imatrix (what `llama-imatrix` writes by default): general.type
// "imatrix", imatrix.datasets / chunk_count / chunk_size, and per weight W the
// F32 tensors W.in_sum2 [cols, n_mat] (Σx² per column per matrix) and W.counts
// [1, n_mat] (tokens per matrix; one count for a dense weight).
// After llama.cpp tools/imatrix/imatrix.cpp save_imatrix and
// common/imatrix-loader.cpp common_imatrix_load (commit 34af94cd).
import type { ColumnImportance } from '../quant/stats.js';
import { type GgufKv, GgufType, readGgufF32, readGgufHeader, writeGguf, type GgufTensorInfo, type GgufTensorOut } from './gguf.js';
import { checkImportance, type Imatrix, imatrixError } from './imatrix.js';

const SUM = '.in_sum2';
const COUNT = '.counts';

function u32Field(file: string, kv: Map<string, GgufKv>, key: string): number {
  const e = kv.get(key);
  if (!e) return 0;
  if (e.type !== GgufType.U32) throw imatrixError(file, key, `GGUF type ${e.type} (expected u32)`);
  return e.value as number;
}

export function readImatrixGguf(file: string): Imatrix {
  const h = readGgufHeader(file);
  const type = h.kv.get('general.type');
  if (type && (type.type !== GgufType.STRING || type.value !== 'imatrix')) {
    throw imatrixError(file, 'general.type', `${JSON.stringify(type.value)} (expected "imatrix": this GGUF is not an importance matrix)`);
  }
  const ds = h.kv.get('imatrix.datasets');
  if (ds && (ds.type !== GgufType.ARRAY || ds.elemType !== GgufType.STRING)) throw imatrixError(file, 'imatrix.datasets', 'expected an array of strings');
  const pairs = new Map<string, { sum?: GgufTensorInfo; count?: GgufTensorInfo }>();
  for (const t of h.tensors) {
    const suffix = t.name.endsWith(SUM) ? SUM : t.name.endsWith(COUNT) ? COUNT : null;
    if (!suffix) throw imatrixError(file, `tensor "${t.name}"`, `name does not end in ${SUM} or ${COUNT}`);
    const name = t.name.slice(0, -suffix.length);
    const p = pairs.get(name) ?? {};
    if (suffix === SUM) p.sum = t;
    else p.count = t;
    pairs.set(name, p);
  }
  if (pairs.size === 0) throw imatrixError(file, 'tensors', 'none (an imatrix holds NAME.in_sum2 and NAME.counts tensors)');
  const entries = new Map<string, ColumnImportance>();
  for (const [name, { sum, count }] of pairs) {
    if (!sum || !count) throw imatrixError(file, `"${name}"`, `has ${sum ? SUM : COUNT} but no ${sum ? COUNT : SUM}`);
    if (sum.ne.length > 2 || count.ne.length > 2) throw imatrixError(file, `"${name}" shape`, `[${sum.ne}] / [${count.ne}] (expected 2-D in_sum2 and counts)`);
    const cols = sum.ne[0]!;
    const slices = sum.ne[1] ?? 1;
    const nCounts = (count.ne[0]!) * (count.ne[1] ?? 1);
    if (count.ne[0] !== 1 || (nCounts !== slices && nCounts !== 1)) {
      throw imatrixError(file, `"${name}${COUNT}" shape`, `[${count.ne}] (expected [1, ${slices}] or [1, 1] for in_sum2 [${sum.ne}])`);
    }
    const sumSq = readGgufF32(h, sum);
    const raw = readGgufF32(h, count);
    // one count for a dense weight used as several matrices (MLA's per-head attn_k_b): each saw it
    const tokens = new Float64Array(slices);
    for (let i = 0; i < slices; i++) tokens[i] = Math.round(raw[nCounts === 1 ? 0 : i]!);
    const e: ColumnImportance = { cols, slices, sumSq, tokens };
    for (let i = 0; i < raw.length; i++) {
      if (!(raw[i]! >= 0) || !Number.isFinite(raw[i]!)) throw imatrixError(file, `"${name}${COUNT}" [${i}]`, `${raw[i]} (expected a finite count ≥ 0)`);
    }
    checkImportance(file, name, e);
    entries.set(name, e);
  }
  return {
    format: 'gguf',
    entries,
    datasets: ds ? (ds.value as string[]) : [],
    chunkCount: u32Field(file, h.kv, 'imatrix.chunk_count'),
    chunkSize: u32Field(file, h.kv, 'imatrix.chunk_size'),
    tokensPerCount: 1,
  };
}

/**
 * Writes the GGUF imatrix as llama-imatrix does: keys in its order, tensors by sorted name.
 * Stacked-expert weights (`_exps`, llama.cpp's MUL_MAT_ID) keep one count per expert; other
 * weights one count over all their values ([cols·slices, 1]: MLA's per-head attn_k_b), as
 * llama-imatrix keeps them, when every slice saw the same tokens.
 */
export function writeImatrixGguf(file: string, m: Omit<Imatrix, 'format'>): void {
  if (m.tokensPerCount !== 1) throw imatrixError(file, 'counts', `the source counts chunks of ${m.tokensPerCount} tokens (legacy .dat); the GGUF format counts tokens, so it needs the original token counts`);
  const kv = new Map<string, GgufKv>([
    ['general.type', { type: GgufType.STRING, value: 'imatrix' }],
    ['imatrix.datasets', { type: GgufType.ARRAY, elemType: GgufType.STRING, value: m.datasets }],
    ['imatrix.chunk_count', { type: GgufType.U32, value: m.chunkCount }],
    ['imatrix.chunk_size', { type: GgufType.U32, value: m.chunkSize }],
  ]);
  const tensors: GgufTensorOut[] = [];
  for (const name of [...m.entries.keys()].sort()) {
    const e = m.entries.get(name)!;
    const one = !/_exps\.weight$/.test(name) && e.tokens.every((c) => c === e.tokens[0]);
    tensors.push({ name: `${name}${SUM}`, ne: one ? [e.cols * e.slices, 1] : [e.cols, e.slices], data: e.sumSq });
    tensors.push({ name: `${name}${COUNT}`, ne: [1, one ? 1 : e.slices], data: Float32Array.from(one ? [e.tokens[0]!] : e.tokens) });
  }
  writeGguf(file, kv, tensors);
}

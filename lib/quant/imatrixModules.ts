// llama.cpp imatrix entries (GGUF weight names) ↔ ImportanceByModule (MLX module
// paths), through the model's tensor table, so a published imatrix for the GGUF
// of a model drives the MLX quantization of the same model. Shapes are checked
// per module: an imatrix made for another model is refused, never half-applied.
import { MlxkError } from '../io/errors.js';
import type { Imatrix } from '../io/imatrix.js';
import { ggufName } from '../models/ggufNames.js';
import type { ModelTable, TensorEntry } from '../models/table.js';
import type { ColumnImportance, ImportanceByModule } from './stats.js';

const WEIGHT_KINDS = new Set(['linear', 'switch_linear', 'multi_linear']);
const HINT = 'use an imatrix made for this model: `mlxk imatrix MODEL --calib FILE -o X`, or llama-imatrix on this model\'s GGUF';

/** (slices, cols) of a module's weight as an imatrix sees it: experts / heads × input columns. */
function weightShape(e: TensorEntry): { slices: number; cols: number } {
  const s = e.shape;
  return { slices: s.length === 3 ? s[0]! : 1, cols: s[s.length - 1]! };
}

export interface ImportanceMapping {
  importance: Map<string, ColumnImportance>;
  /** Entries for weights nothing quantizes (the router) or that the MLX layout splits (MLA's attn_kv_b). */
  skipped: string[];
}

/** Maps every imatrix entry onto the table's module, checking names and shapes. */
export function importanceFromImatrix(m: Imatrix, table: ModelTable, file: string, model: string): ImportanceMapping {
  const byGguf = new Map<string, TensorEntry>();
  const splitSources = new Set<string>();
  const unquantized = new Set<string>();
  for (const e of table.entries) {
    if (!e.name.endsWith('.weight') || e.shape.length < 2) continue;
    const g = ggufName(e.module);
    // the router is a matrix llama.cpp records but nothing quantizes: its shape is still checked
    if (g) byGguf.set(g, e);
    if (g && !WEIGHT_KINDS.has(e.kind)) unquantized.add(g);
    if (e.source.kind === 'kv_b') {
      const s = ggufName(e.source.name.replace(/\.weight$/, ''));
      if (s) splitSources.add(s);
    }
  }
  const importance = new Map<string, ColumnImportance>();
  const skipped: string[] = [];
  for (const [name, imp] of m.entries) {
    const entry = byGguf.get(name);
    if (!entry) {
      if (splitSources.has(name)) { skipped.push(name); continue; }
      throw new MlxkError(`${file}: imatrix entry "${name}" names no weight of ${model} (a ${table.numLayers}-layer ${table.modelType}): this imatrix was made for another model`, HINT);
    }
    const { slices, cols } = weightShape(entry);
    const flat = imp.slices === 1 && imp.cols === cols * slices;
    if (!(imp.cols === cols && imp.slices === slices) && !flat) {
      throw new MlxkError(`${file}: imatrix entry "${name}" has ${imp.slices} × ${imp.cols} values, but ${entry.module} of ${model} needs ${slices} × ${cols} (${slices > 1 ? 'experts/heads × ' : ''}input columns): this imatrix was made for another model`, HINT);
    }
    // a flat entry (legacy .dat; one count for a per-head weight) gives every slice its count
    const tokens = imp.slices === slices ? imp.tokens : new Float64Array(slices).fill(imp.tokens[0]!);
    if (unquantized.has(name)) skipped.push(name);
    else importance.set(entry.module, { cols, slices, sumSq: imp.sumSq, tokens });
  }
  if (importance.size === 0) throw new MlxkError(`${file}: the imatrix covers no quantizable module of ${model}`, HINT);
  return { importance, skipped };
}

/** The imatrix entries of per-module statistics, by GGUF weight name. */
export function imatrixEntries(importance: ImportanceByModule): Map<string, ColumnImportance> {
  const out = new Map<string, ColumnImportance>();
  for (const [module, imp] of importance) {
    const name = ggufName(module);
    if (!name) throw new MlxkError(`module ${module} has no llama.cpp (GGUF) name, so it cannot be written to an imatrix file`);
    out.set(name, imp);
  }
  return out;
}

// The block-by-block calibration pass behind `mlxk quantize --method gptq|learned`:
// decoder layer by decoder layer, each layer's calibration inputs are the previous
// layer's outputs *after* its quantization, and only that layer's weights, Hessians and
// the activations are in memory. The converter (lib/quant/convert.ts) pulls modules
// through the PrecomputedSource interface in shard order; a pull runs blocks until the
// module's block is done. Each finished block leaves, in DST/.mlxk-calib/:
//   block-NNNNN.safetensors  its calibrated modules' words/scales/biases (deleted once
//                            the shard holding them is written),
//   acts-NNNNN.f32           the next block's inputs (only the latest is kept),
//   state.json               the next block and every finished block's report,
// all written atomically, so a killed run resumes at the last block boundary and,
// the arithmetic being deterministic, ends with byte-identical output.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Ops } from '../backend/ops.js';
import { Checkpoint } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { ShardWriter, writeFileAtomic } from '../io/safetensorsWriter.js';
import { tensorTable } from '../models/registry.js';
import { planQuantization, type QuantPlan } from '../quant/plan.js';
import type { CalibrationReport, PrecomputedRows, PrecomputedSource } from '../quant/precomputed.js';
import type { Preset, Rule } from '../quant/preset.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { type CalibrationSet, calibrationIds, calibrationWindows, describeCalibration, openCalibration } from './calibText.js';
import { DeepseekBlocks } from './sequentialDeepseek.js';
import { BlockModules, blockTensors, type GptqSettings, isCalibrated } from './sequentialModule.js';

export interface CalibrationOptions extends GptqSettings {
  /** `--calib`: a text or chat JSONL file, or "default" (lib/calib/calibText.ts). */
  calibFile: string;
  /** Most calibration tokens used (bounded before any work starts). */
  maxTokens: number;
  /** Tokens per calibration sequence. */
  seqLen: number;
}

export interface CalibrationProgress {
  /** Blocks finished (decoder layers, then the head). */
  blocksDone: number;
  blocksTotal: number;
  /** What the current block is doing, e.g. "layer 3: experts 120/384". */
  stage: string;
  /** Seconds per block so far, and the estimate for the blocks left. */
  secondsPerBlock: number;
  etaSeconds: number;
}

interface BlockState {
  file: string | null;
  modules: string[];
  reports: Record<string, CalibrationReport>;
  written: string[];
  seconds: number;
}

interface State {
  id: string;
  tokens: number;
  seqLen: number;
  nextBlock: number;
  blocks: Record<string, BlockState>;
}

export const CALIB_DIR = '.mlxk-calib';

export class SequentialCalibration implements PrecomputedSource {
  readonly id: string;
  /** What `id` hashes, by the flag that sets each. */
  readonly settings: Record<string, unknown>;
  private readonly calib: CalibrationSet;
  private readonly ckpt: Checkpoint;
  private readonly plan: QuantPlan;
  private readonly runner: DeepseekBlocks;
  private readonly dir: string;
  private readonly moduleBlock = new Map<string, number>();
  private readonly blockModules: string[][];
  private state: State;
  private open = new Map<number, SafetensorsFile>();
  private ids: number[] | null = null;

  constructor(src: string, dst: string, preset: Preset, extraRules: Rule[], private readonly ops: Ops, private readonly opts: CalibrationOptions, private readonly onProgress?: (p: CalibrationProgress) => void) {
    if (!(opts.seqLen >= 16 && opts.seqLen <= 8192)) throw new MlxkError(`--calib-seq ${opts.seqLen}: expected 16…8192 tokens per sequence`);
    if (!(opts.maxTokens >= opts.seqLen && opts.maxTokens <= 4_000_000)) throw new MlxkError(`--calib-tokens ${opts.maxTokens}: expected at least one sequence (${opts.seqLen}) and at most 4,000,000 tokens`);
    if (!(opts.damp > 0 && opts.damp < 10)) throw new MlxkError(`--damp ${opts.damp}: expected a fraction of the mean Hessian diagonal in (0, 10), e.g. 0.01`);
    this.ckpt = Checkpoint.open(src);
    const table = tensorTable(this.ckpt.config, `${this.ckpt.dir}/config.json`);
    if (table.arch !== 'deepseek_v3') {
      this.ckpt.close();
      throw new MlxkError(`${src}: the calibration pass of --method gptq/learned runs DeepSeek-V3 / Kimi models (deepseek_v3, kimi_k2, kimi_k25); this is ${table.modelType}`, 'use --method mse or rtn for this model');
    }
    this.plan = planQuantization(table, preset, extraRules);
    this.runner = new DeepseekBlocks(ops, this.ckpt.config, table.modelType);
    const L = this.runner.layers;
    this.blockModules = Array.from({ length: L + 1 }, () => []);
    for (const m of this.plan.modules) {
      if (!isCalibrated(m) || m.role === 'embed') continue;
      const b = m.role === 'lm_head' ? L : m.layer;
      if (b === null) continue;
      this.moduleBlock.set(m.module, b);
      this.blockModules[b]!.push(m.module);
    }
    this.calib = openCalibration(opts.calibFile);
    this.settings = { '--calib': `sha256:${this.calib.sha256}`, '--calib-tokens': opts.maxTokens, '--calib-seq': opts.seqLen, '--damp': opts.damp, '--act-order': opts.actOrder, '--iters': opts.iters };
    this.id = createHash('sha256').update(JSON.stringify({ calib: this.calib.sha256, maxTokens: opts.maxTokens, seqLen: opts.seqLen, damp: opts.damp, actOrder: opts.actOrder, iters: opts.iters, version: 2 })).digest('hex');
    this.dir = join(dst, CALIB_DIR);
    this.state = this.loadState();
    try {
      this.tokenIds(); // a set too short for the model is refused before any work
    } catch (e) {
      this.ckpt.close();
      throw e;
    }
  }

  /** Lines for the model card. */
  cardNotes(): string[] {
    return [
      `calibration: ${this.tokenIds().length} tokens in sequences of ${this.opts.seqLen} from ${describeCalibration(this.calib)}`,
      `GPTQ damping ${this.opts.damp} of mean diag(H), activation order ${this.opts.actOrder ? 'on (static groups)' : 'off'}${this.usesLearned() ? `, learned rounding ${this.opts.iters} rounds` : ''}`,
    ];
  }

  private usesLearned(): boolean {
    return this.plan.modules.some((m) => m.quant?.method === 'learned');
  }

  private loadState(): State {
    const path = join(this.dir, 'state.json');
    if (existsSync(path)) {
      try {
        const s = JSON.parse(readFileSync(path, 'utf8')) as State;
        if (s.id === this.id && typeof s.nextBlock === 'number' && (s.nextBlock === 0 || existsSync(this.actsPath(s.nextBlock)) || s.nextBlock > this.runner.layers)) return s;
      } catch {
        // unreadable: start over
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    return { id: this.id, tokens: 0, seqLen: this.opts.seqLen, nextBlock: 0, blocks: {} };
  }

  private saveState(): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(join(this.dir, 'state.json'), JSON.stringify(this.state, null, 1));
  }

  private actsPath(b: number): string {
    return join(this.dir, `acts-${String(b).padStart(5, '0')}.f32`);
  }

  private blockPath(b: number): string {
    return join(this.dir, `block-${String(b).padStart(5, '0')}.safetensors`);
  }

  /** The calibration token ids: whole sequences spread over the set, back to back. */
  private tokenIds(): number[] {
    if (this.ids) return this.ids;
    const all = calibrationIds(this.calib, loadTokenizer(this.ckpt.dir));
    this.ids = calibrationWindows(all, this.calib, this.ckpt.config, { seqLen: this.opts.seqLen, maxTokens: this.opts.maxTokens }).flat();
    return this.ids;
  }

  private readActs(b: number): Float32Array {
    const buf = readFileSync(this.actsPath(b));
    const x = new Float32Array(buf.byteLength / 4);
    new Uint8Array(x.buffer).set(buf);
    return x;
  }

  async prepare(module: string): Promise<boolean> {
    const b = this.moduleBlock.get(module);
    if (b === undefined) return false;
    while (this.state.nextBlock <= b) await this.runBlock(this.state.nextBlock);
    if (!this.state.blocks[b]?.file || !existsSync(this.blockPath(b))) throw new MlxkError(`${this.blockPath(b)}: the calibrated results of block ${b} are missing`, 'rerun with --force to start the conversion over');
    return true;
  }

  private file(module: string): SafetensorsFile {
    const b = this.moduleBlock.get(module)!;
    let f = this.open.get(b);
    if (!f) {
      f = SafetensorsFile.open(this.blockPath(b));
      this.open.set(b, f);
    }
    return f;
  }

  readRows(module: string, start: number, count: number): PrecomputedRows {
    const f = this.file(module);
    const read = (name: string) => {
      const t = f.tensors.get(name)!;
      const per = t.shape[1]!;
      const bytes = f.readRange(name, start * per * 4, count * per * 4);
      const copy = new Uint8Array(bytes.length);
      copy.set(bytes);
      return copy.buffer;
    };
    return { words: new Uint32Array(read(`${module}.weight`)), scales: new Float32Array(read(`${module}.scales`)), biases: new Float32Array(read(`${module}.biases`)) };
  }

  report(module: string): CalibrationReport {
    return this.state.blocks[this.moduleBlock.get(module)!]!.reports[module]!;
  }

  written(modules: string[]): void {
    let changed = false;
    for (const m of modules) {
      const b = this.moduleBlock.get(m);
      if (b === undefined) continue;
      const st = this.state.blocks[b]!;
      if (!st.written.includes(m)) st.written.push(m);
      changed = true;
      if (st.file && st.modules.every((x) => st.written.includes(x))) {
        this.open.get(b)?.close();
        this.open.delete(b);
        rmSync(this.blockPath(b), { force: true });
        st.file = null;
      }
    }
    if (changed) this.saveState();
  }

  close(): void {
    for (const f of this.open.values()) f.close();
    this.open.clear();
    this.ckpt.close();
  }

  /** Removes the work folder once the conversion is complete. */
  finish(): void {
    this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private progress(stage: string): void {
    if (!this.onProgress) return;
    const done = Object.values(this.state.blocks);
    const secondsPerBlock = done.length ? done.reduce((a, b) => a + b.seconds, 0) / done.length : NaN;
    const total = this.runner.layers + 1;
    this.onProgress({ blocksDone: this.state.nextBlock, blocksTotal: total, stage, secondsPerBlock, etaSeconds: secondsPerBlock * (total - this.state.nextBlock) });
  }

  private async runBlock(b: number): Promise<void> {
    const started = Date.now();
    const L = this.runner.layers;
    const d = this.runner.hidden;
    const seqLen = this.opts.seqLen;
    mkdirSync(this.dir, { recursive: true });
    const names = this.blockModules[b]!;
    const modules = names.map((n) => this.plan.modules.find((m) => m.module === n)!);
    const sink = names.length > 0 ? new ShardWriter(this.blockPath(b), blockTensors(modules), { format: 'mlxk-calib' }) : null;
    const mods = new BlockModules(this.ckpt, this.plan, this.opts, sink);
    let x: Float32Array;
    if (b === 0) {
      const ids = this.tokenIds();
      this.state.tokens = ids.length;
      x = this.runner.embed(mods, ids);
    } else {
      x = this.readActs(b);
    }
    const tokens = x.length / d;
    const label = b < L ? `layer ${b}` : 'head';
    this.progress(label);
    let next: Float32Array | null = null;
    try {
      if (b < L) next = await this.runner.layer(b, { x, tokens, seqLen }, mods, (s) => this.progress(`${label}: ${s}`));
      else if (names.length > 0) this.runner.head(mods, { x, tokens, seqLen });
      sink?.finish();
    } catch (e) {
      sink?.abort();
      throw e;
    }
    if (next) writeFileAtomic(this.actsPath(b + 1), new Uint8Array(next.buffer, next.byteOffset, next.byteLength));
    const reports: Record<string, CalibrationReport> = {};
    for (const [name, r] of mods.reports) {
      const { sqErr: _e, sqRef: _r, ...rep } = r;
      reports[name] = rep;
    }
    this.state.blocks[b] = { file: sink ? this.blockPath(b) : null, modules: names, reports, written: [], seconds: (Date.now() - started) / 1000 };
    this.state.nextBlock = b + 1;
    this.saveState();
    rmSync(this.actsPath(b), { force: true });
    await this.ops.reclaim();
    this.progress(label);
  }
}

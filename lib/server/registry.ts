// The models one server offers, under one memory budget. Every model's tokenizer, chat format and
// context length are read at startup (so counting tokens, validating and rejecting oversized
// prompts never wait for weights); weights are loaded while they fit and otherwise on demand,
// unloading the least recently used idle models. A model in use by a request is never unloaded.
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { type BackendName, createOps, defaultBackend } from '../backend/index.js';
import { stopTokenIds } from '../engine/languageModel.js';
import { ModelWorker, type WorkerLaunch } from '../engine/remote/workerProcess.js';
import { Checkpoint } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { footprintOf, residentWeightBytes } from '../models/footprint.js';
import { loadModel } from '../models/load.js';
import type { CausalLM } from '../models/model.js';
import { tensorTable } from '../models/registry.js';
import type { ToolCallFormat } from '../protocol/types.js';
import { generationDefaults } from '../models/generationConfig.js';
import { checkTokenizerFits } from '../models/validate.js';
import { loadTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { modelFormat, type ModelFormat } from './prompt.js';

export interface ModelSpec {
  /** Directory or Hugging Face cache id, as given on the command line. */
  path: string;
  /** Other names requests may use. A name ending in "*" matches every model name with that prefix. */
  aliases?: string[];
  /** Who runs the model: mlxk's own engine (default) or an mlx-lm worker process. */
  engine?: EngineName;
}

export const ENGINES = ['mlxk', 'mlx-lm'] as const;
export type EngineName = (typeof ENGINES)[number];

export interface RegistryOptions {
  /** Bytes the weights of resident models may take together. */
  budgetBytes: number;
  /** Compute backend; undefined: createOps' default. */
  backend?: BackendName;
  /** Tool-call format for every model instead of the one read from its chat template (null: none). */
  toolParser?: ToolCallFormat | null;
  /** How mlx-lm workers start (serve --engine mlx-lm). */
  workerLaunch?: WorkerLaunch;
  /** Called after a model was unloaded (its prompt-cache entries are dropped there). */
  onUnload?: (m: ServedModel) => void;
  log?: (line: string) => void;
}

/** Sampling defaults from generation_config.json (for requests that leave them unset). */
export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
}

export class ServedModel {
  /** The name /v1/models lists and responses report by default. */
  readonly id: string;
  /** Every exact name that routes here. */
  readonly names: string[];
  /** Token ids that end a reply (EOS and end-of-turn tokens). */
  readonly stopTokens: number[];
  model: CausalLM | null = null;
  /** The worker process running the model (engine mlx-lm). */
  worker: ModelWorker | null = null;
  /** Requests holding the model (it stays loaded while > 0). */
  users = 0;
  lastUsed = 0;
  /** How many times the weights were loaded (a reload after LRU unloading counts again). */
  loads = 0;

  constructor(
    readonly spec: ModelSpec,
    readonly dir: string,
    readonly tokenizer: Tokenizer,
    readonly format: ModelFormat,
    private readonly configContext: number,
    /** What its weights take in memory on its engine/backend (lib/models/footprint.ts). */
    readonly weightBytes: number,
    /** The same as stored (what the native backend and mlx-lm hold). */
    readonly storedBytes: number,
    readonly defaults: SamplingDefaults,
  ) {
    this.id = isPathLike(spec.path) ? basename(dir) : spec.path;
    this.names = [...new Set([this.id, spec.path, dir, ...(spec.aliases ?? []).filter((a) => !a.endsWith('*'))])];
    this.stopTokens = stopTokenIds(tokenizer);
  }

  get engine(): EngineName {
    return this.spec.engine ?? 'mlxk';
  }

  get loaded(): boolean {
    return this.model !== null || this.worker !== null;
  }

  /** Longest prompt + completion, in tokens. */
  get maxContext(): number {
    return this.model ? Math.min(this.configContext, this.model.info.maxContext) : this.configContext;
  }
}

export class ModelRegistry {
  private clock = 0;

  private constructor(
    readonly models: ServedModel[],
    private readonly wildcards: { prefix: string; model: ServedModel }[],
    private readonly opts: RegistryOptions,
  ) {}

  /** Reads every model's config, tokenizer and size; fails on the first that cannot be served. */
  static open(specs: readonly ModelSpec[], opts: RegistryOptions): ModelRegistry {
    if (specs.length === 0) throw new MlxkError('no model to serve', 'pass one or more model directories');
    const models = specs.map((s) => openModel(s, opts));
    const owner = new Map<string, ServedModel>();
    for (const m of models) {
      if (m.weightBytes > opts.budgetBytes) {
        const widened = m.weightBytes > m.storedBytes && m.storedBytes <= opts.budgetBytes;
        throw new MlxkError(
          `${m.dir}: its weights take ${gib(m.weightBytes)}${widened ? ' on the mlx backend' : ''}, more than the memory budget of ${gib(opts.budgetBytes)}`,
          widened
            ? `the native backend (the default) or --engine mlx-lm holds them as stored, ${gib(m.storedBytes)}; or raise --memory`
            : 'raise --memory (or lower --prompt-cache-bytes, which comes out of it), or serve a smaller quantization',
        );
      }
      for (const n of m.names) {
        const other = owner.get(n);
        if (other !== undefined && other !== m) throw new MlxkError(`two models answer to the name "${n}" (${other.dir} and ${m.dir})`, 'give them distinct names with --alias NAME=MODEL');
        owner.set(n, m);
      }
    }
    const wildcards = models.flatMap((m) => (m.spec.aliases ?? []).filter((a) => a.endsWith('*')).map((a) => ({ prefix: a.slice(0, -1), model: m })));
    return new ModelRegistry(models, wildcards, opts);
  }

  /** The model a request names: an exact name first, then the longest matching wildcard alias. */
  resolve(name: string): ServedModel | undefined {
    const exact = this.models.find((m) => m.names.includes(name));
    if (exact) return exact;
    let best: { prefix: string; model: ServedModel } | undefined;
    for (const w of this.wildcards) if (name.startsWith(w.prefix) && (best === undefined || w.prefix.length > best.prefix.length)) best = w;
    return best?.model;
  }

  /** Names to offer in errors and listings. */
  get names(): string[] {
    return this.models.flatMap((m) => [m.id, ...(m.spec.aliases ?? [])]);
  }

  get residentBytes(): number {
    return this.models.reduce((a, m) => a + (m.loaded ? m.weightBytes : 0), 0);
  }

  get budgetBytes(): number {
    return this.opts.budgetBytes;
  }

  /** Loads models in the order given while they fit the budget. */
  async preload(): Promise<void> {
    for (const m of this.models) {
      if (this.residentBytes + m.weightBytes <= this.opts.budgetBytes) await this.load(m);
    }
  }

  /**
   * Makes `m` resident and holds it for a request, unloading idle models (least recently used
   * first) to make room. false when the models in use leave no room: ask again after a release.
   */
  async acquire(m: ServedModel): Promise<boolean> {
    if (!m.loaded) {
      const idle = this.models.filter((o) => o.loaded && o.users === 0 && o !== m).sort((a, b) => a.lastUsed - b.lastUsed);
      const busy = this.residentBytes - idle.reduce((a, o) => a + o.weightBytes, 0);
      if (busy + m.weightBytes > this.opts.budgetBytes) return false;
      for (const o of idle) {
        if (this.residentBytes + m.weightBytes <= this.opts.budgetBytes) break;
        await this.unload(o);
      }
      await this.load(m);
    }
    m.users++;
    m.lastUsed = ++this.clock;
    return true;
  }

  release(m: ServedModel): void {
    if (m.users <= 0) throw new Error(`${m.id}: released more often than acquired`);
    m.users--;
    m.lastUsed = ++this.clock;
  }

  /** Stops every worker process (the server is closing). */
  async close(): Promise<void> {
    await Promise.all(this.models.map(async (m) => {
      const w = m.worker;
      m.worker = null;
      await w?.stop();
    }));
  }

  private async load(m: ServedModel): Promise<void> {
    const started = performance.now();
    if (m.engine === 'mlx-lm') await this.startWorker(m);
    else m.model = (await loadModel(m.dir, createOps(this.opts.backend))).model;
    m.loads++;
    m.lastUsed = ++this.clock;
    this.opts.log?.(`loaded ${m.id} (${gib(m.weightBytes)}${m.worker ? `, mlx-lm worker pid ${m.worker.pid}` : ''}) in ${((performance.now() - started) / 1000).toFixed(1)} s; resident ${gib(this.residentBytes)} of ${gib(this.opts.budgetBytes)}`);
  }

  /** A worker that dies is forgotten, so the next request for the model starts a new one. */
  private async startWorker(m: ServedModel): Promise<void> {
    const w = await ModelWorker.start(m.dir, this.opts.workerLaunch);
    w.onExit((why) => {
      if (m.worker !== w) return;
      m.worker = null;
      this.opts.onUnload?.(m);
      this.opts.log?.(`the mlx-lm worker of ${m.id} exited (${why}); the next request starts a new one`);
    });
    m.worker = w;
  }

  private async unload(m: ServedModel): Promise<void> {
    const ops = m.model?.ops;
    const worker = m.worker;
    m.model = null;
    m.worker = null;
    this.opts.onUnload?.(m);
    await ops?.reclaim({ full: true });
    await worker?.stop();
    this.opts.log?.(`unloaded ${m.id} (least recently used) to make room`);
  }
}

function openModel(spec: ModelSpec, opts: RegistryOptions): ServedModel {
  const ckpt = Checkpoint.open(spec.path);
  let table;
  let bytes: number;
  let stored: number;
  try {
    table = tensorTable(ckpt.config, `${ckpt.dir}/config.json`);
    stored = residentWeightBytes(ckpt, 'stored');
    bytes = spec.engine === 'mlx-lm' ? stored : residentWeightBytes(ckpt, footprintOf(opts.backend ?? defaultBackend()));
  } finally {
    ckpt.close();
  }
  const tokenizer = loadTokenizer(ckpt.dir);
  checkTokenizerFits(tokenizer.vocabSize, table, ckpt.dir);
  if (!tokenizer.hasChatTemplate) throw new MlxkError(`${ckpt.dir}: has no chat template (tokenizer_config.json chat_template or chat_template.jinja)`, 'the server needs it to turn messages into a prompt');
  const format = modelFormat(tokenizer, opts.toolParser);
  return new ServedModel(spec, ckpt.dir, tokenizer, format, table.maxContext, bytes, stored, samplingDefaults(ckpt.dir));
}

function samplingDefaults(dir: string): SamplingDefaults {
  const gen = generationDefaults(dir);
  const d: SamplingDefaults = {};
  // transformers' reading: do_sample false means greedy, whatever temperature says.
  const temperature = gen.doSample === false ? 0 : gen.temperature;
  if (temperature !== undefined) d.temperature = temperature;
  if (gen.topP !== undefined) d.topP = gen.topP;
  if (gen.topK !== undefined) d.topK = gen.topK;
  return d;
}

/** A path on disk (named by its directory) rather than a Hugging Face id (named as given). */
function isPathLike(arg: string): boolean {
  return existsSync(arg) || arg.startsWith('.') || arg.startsWith('/') || resolve(arg) === arg;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

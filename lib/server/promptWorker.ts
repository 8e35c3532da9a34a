// Prompts are rendered and tokenized off the event loop: one worker thread per model directory
// (promptWorkerMain.ts) holds its own copy of the tokenizer. Tokenizing megabytes takes seconds;
// on the event loop that would stall every stream, /health and shutdown.
import { Worker } from 'node:worker_threads';
import { ApiError, type ContextOverflow, type ErrorKind } from './errors.js';
import type { ModelFormat, PreparedPrompt } from './prompt.js';
import type { GenerationRequest } from './types.js';

export interface PromptJob {
  request: GenerationRequest;
  format: ModelFormat;
  /** Prompts that cannot fit are refused before tokenizing (promptBound.ts). */
  contextLength: number;
}

/** What crosses the thread boundary for a failure: an ApiError's fields, else a message. */
export interface WireError {
  kind?: ErrorKind;
  message: string;
  param?: string | null;
  overflow?: ContextOverflow;
}

/** A prepared prompt as it crosses back: ids in a transferred buffer (cloning an array of millions of numbers would block the event loop), no text. */
export interface WorkerPrompt {
  ids: Uint32Array;
  parser: PreparedPrompt['parser'];
}

export type WorkerReply = { id: number; prepared: WorkerPrompt } | { id: number; error: WireError };

export interface WorkerData {
  dir: string;
}

interface Pending {
  resolve: (p: WorkerPrompt) => void;
  reject: (e: unknown) => void;
}

class PromptWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  dead = false;

  constructor(dir: string) {
    this.worker = new Worker(new URL('./promptWorkerMain.js', import.meta.url), { workerData: { dir } satisfies WorkerData });
    this.worker.unref();
    this.worker.on('message', (r: WorkerReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      if (this.pending.size === 0) this.worker.unref();
      if (!p) return;
      if ('prepared' in r) p.resolve(r.prepared);
      else p.reject(r.error.kind === undefined ? new Error(r.error.message) : new ApiError(r.error.kind, r.error.message, r.error.param ?? null, r.error.overflow));
    });
    const fail = (e: unknown) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the prompt worker for ${dir} exited (code ${code})`)));
  }

  run(job: PromptJob): Promise<WorkerPrompt> {
    const id = this.next++;
    this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...job });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

export class PromptWorkers {
  private readonly workers = new Map<string, PromptWorker>();

  /** The request's prompt for the model in `dir`, prepared as preparePrompt does, in that model's worker. */
  prepare(dir: string, job: PromptJob): Promise<WorkerPrompt> {
    let w = this.workers.get(dir);
    if (!w || w.dead) {
      w = new PromptWorker(dir);
      this.workers.set(dir, w);
    }
    return w.run(job);
  }

  /** Starts the worker ahead of the first request (its tokenizer takes a moment to load). */
  warm(dir: string): void {
    if (!this.workers.has(dir)) this.workers.set(dir, new PromptWorker(dir));
  }

  async close(): Promise<void> {
    const all = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(all.map((w) => w.close()));
  }
}


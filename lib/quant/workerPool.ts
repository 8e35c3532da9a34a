// A fixed pool of worker threads for quantization math, so conversion uses
// every core while the main thread reads sources and writes shards.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { QuantizeJob, QuantizeResult } from './quantizeJob.js';

interface Pending {
  resolve: (r: QuantizeResult) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; job: QuantizeJob }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 0;

  constructor(readonly size = availableParallelism()) {
    const url = new URL('./quantizeWorker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      const w = new Worker(url);
      w.on('message', (msg: { id: number; result?: QuantizeResult; error?: string }) => this.onMessage(w, msg));
      w.on('error', (e) => this.failWorker(w, e));
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  /** Jobs queued or running. */
  get inFlight(): number {
    return this.pending.size;
  }

  run(job: QuantizeJob): Promise<QuantizeResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, job });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { id, job } = this.queue.shift()!;
      this.busy.set(w, id);
      w.postMessage({ id, job }, [job.w.buffer as ArrayBuffer]);
    }
  }

  private onMessage(w: Worker, msg: { id: number; result?: QuantizeResult; error?: string }): void {
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    this.busy.delete(w);
    this.idle.push(w);
    if (p) {
      if (msg.error !== undefined) p.reject(new Error(`quantize worker: ${msg.error}`));
      else p.resolve(msg.result!);
    }
    this.dispatch();
  }

  private failWorker(w: Worker, e: Error): void {
    const id = this.busy.get(w);
    if (id !== undefined) {
      this.pending.get(id)?.reject(e);
      this.pending.delete(id);
    }
  }
}

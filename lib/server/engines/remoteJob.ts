// One request as a scheduler task whose tokens come from a model worker process (serve --engine
// mlx-lm): the same Task contract and JobSink as GenerationJob, so routes, responders, parsers,
// the thinking budget and cancellation are shared; only where tokens come from differs. The
// worker samples; mlxk decodes the ids with its own tokenizer, so the text, tool calls and
// reasoning are exactly what the native engine would make of the same ids.
// A step hands the sink every token that has arrived (waiting a moment when none has), so one
// job waiting for its worker never holds up the other jobs' steps.
import type { SamplingOptions } from '../../engine/sampler.js';
import type { StepReport, Task } from '../../engine/scheduler.js';
import { streamGenerate, type WorkerEvent, workerSampling } from '../../engine/remote/protocol.js';
import { StreamDecoder } from '../../tokenizer/streamDecoder.js';
import type { JobSink } from '../job.js';
import type { ModelRegistry, ServedModel } from '../registry.js';
import type { GenerationEnd, GenerationStep } from '../types.js';

export interface RemoteJobOptions {
  id: string;
  model: ServedModel;
  registry: ModelRegistry;
  promptIds: number[];
  /** Already clamped to the context left after the prompt. */
  maxTokens: number;
  sampling: SamplingOptions;
  logprobsTop?: number;
  sink: JobSink;
  thinkingBudget?: { tokens: number; closeIds: readonly number[] };
}

/** How long a step waits for the worker when nothing has arrived (then other jobs get their turn). */
const STEP_WAIT_MS = 20;

export class RemoteGenerationJob implements Task {
  readonly id: string;
  readonly timing = { firstToken: 0, ended: 0 };
  private state: 'queued' | 'running' | 'done' = 'queued';
  private holdsModel = false;
  private cancelRequested = false;
  private cachedTokens = 0;
  private announced = false;
  private readonly generated: number[] = [];
  private readonly decoder: StreamDecoder;
  private reasoningTokens = 0;
  // The current stream: events not yet handed on, whether it ended, and how to close it.
  private inbox: WorkerEvent[] = [];
  private streamClosed = false;
  private streamError: unknown = null;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly o: RemoteJobOptions) {
    this.id = o.id;
    this.decoder = new StreamDecoder(o.model.tokenizer);
  }

  get cancelled(): boolean {
    return this.cancelRequested;
  }

  get usage(): { promptTokens: number; cachedTokens: number; completionTokens: number } {
    return { promptTokens: this.o.promptIds.length, cachedTokens: this.cachedTokens, completionTokens: this.generated.length };
  }

  cancel(): void {
    this.cancelRequested = true;
    this.closeStream();
  }

  async admit(): Promise<boolean> {
    if (!(await this.o.registry.acquire(this.o.model))) return false;
    this.holdsModel = true;
    return true;
  }

  async step(): Promise<StepReport> {
    if (this.state === 'done') return { kind: 'end', tokens: 0, done: true };
    if (this.cancelRequested) {
      this.finish();
      return { kind: 'end', tokens: 0, done: true };
    }
    if (this.state === 'queued') {
      this.state = 'running';
      this.open(this.o.promptIds, this.o.maxTokens);
      return { kind: 'start', tokens: 0, done: false };
    }
    if (this.inbox.length === 0 && !this.streamClosed) await this.arrival(STEP_WAIT_MS);
    let tokens = 0;
    while (this.inbox.length > 0) {
      const e = this.inbox.shift()!;
      if (e.event === 'prefill') {
        if (!this.announced) {
          this.announced = true;
          this.cachedTokens = e.cached_tokens;
          this.o.sink.started({ promptTokens: this.o.promptIds.length, cachedTokens: e.cached_tokens });
        }
        continue;
      }
      if (e.event === 'error') throw new Error(`the mlx-lm worker failed: ${e.message}`);
      if (e.event === 'end') return this.end(e.reason === 'stop' ? 'eos' : 'length');
      tokens++;
      const end = this.take({ tokenId: e.id, text: '', ...(e.logprob !== undefined ? { logprob: e.logprob } : {}), ...(e.top ? { topLogprobs: e.top.map(([tokenId, logprob]) => ({ tokenId, logprob })) } : {}) });
      if (end) return end;
    }
    if (this.streamClosed && this.inbox.length === 0) {
      if (this.streamError) throw this.streamError;
      throw new Error(`the mlx-lm worker for ${this.o.model.id} closed the stream without ending it (did it exit?)`);
    }
    return { kind: 'decode', tokens, done: false };
  }

  fail(error: unknown): void {
    this.finish();
    this.o.sink.failed(error);
  }

  /** One generated token to the sink; a StepReport when the job ends with it. */
  private take(step: GenerationStep): StepReport | null {
    const first = this.generated.length === 0;
    if (first) {
      this.timing.firstToken = performance.now();
      this.o.sink.prefilled(this.o.promptIds.length, this.o.promptIds.length);
    }
    if (this.o.model.stopTokens.includes(step.tokenId)) return this.end('eos');
    this.generated.push(step.tokenId);
    step.text = this.decoder.push(step.tokenId);
    if (this.o.logprobsTop === undefined) {
      delete step.logprob;
      delete step.topLogprobs;
    }
    if (this.o.sink.token(step)) return this.end('stopped');
    if (this.spendThinkingBudget()) return this.end('stopped');
    if (this.generated.length >= this.o.maxTokens) return this.end('length');
    return null;
  }

  /**
   * Anthropic thinking.budget_tokens: at the budget the worker's stream is closed, the reasoning
   * end marker is written as generated tokens, and generation resumes after it (the worker's
   * prompt cache makes the resumed prefill only the new tokens). true: the job ended meanwhile.
   */
  private spendThinkingBudget(): boolean {
    const budget = this.o.thinkingBudget;
    if (budget === undefined || this.reasoningTokens >= budget.tokens || !this.o.sink.inReasoning()) return false;
    if (++this.reasoningTokens < budget.tokens) return false;
    this.closeStream();
    for (const id of budget.closeIds) {
      this.generated.push(id);
      if (this.o.sink.token({ tokenId: id, text: this.decoder.push(id) })) return true;
      if (this.generated.length >= this.o.maxTokens) return true;
    }
    this.open([...this.o.promptIds, ...this.generated], this.o.maxTokens - this.generated.length);
    return false;
  }

  private open(prompt: number[], maxTokens: number): void {
    const worker = this.o.model.worker;
    if (!worker) throw new Error(`${this.o.model.id}: its mlx-lm worker is not running`);
    const abort = new AbortController();
    this.abort = abort;
    this.inbox = [];
    this.streamClosed = false;
    this.streamError = null;
    const request = {
      prompt,
      max_tokens: maxTokens,
      ...workerSampling(this.o.sampling),
      ...(this.o.logprobsTop !== undefined ? { logprobs: this.o.logprobsTop } : {}),
      stop_token_ids: this.o.model.stopTokens,
    };
    void (async () => {
      try {
        for await (const e of streamGenerate(worker.url, request, abort.signal)) {
          if (this.abort !== abort) return;
          this.inbox.push(e);
          this.wake?.();
        }
      } catch (e) {
        if (this.abort === abort && !abort.signal.aborted) this.streamError = e;
      }
      if (this.abort === abort) {
        this.streamClosed = true;
        this.wake?.();
      }
    })();
  }

  private closeStream(): void {
    const a = this.abort;
    this.abort = null;
    a?.abort();
  }

  private arrival(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private end(reason: GenerationEnd['reason']): StepReport {
    const text = this.decoder.flush();
    this.finish();
    this.o.sink.ended({ reason, usage: { promptTokens: this.o.promptIds.length, completionTokens: this.generated.length, cachedTokens: this.cachedTokens }, ...(text ? { text } : {}) });
    return { kind: 'end', tokens: 0, done: true };
  }

  private finish(): void {
    this.state = 'done';
    this.timing.ended = performance.now();
    this.closeStream();
    if (this.holdsModel) {
      this.holdsModel = false;
      this.o.registry.release(this.o.model);
    }
  }
}

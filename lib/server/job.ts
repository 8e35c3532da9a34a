// One request's generation as a scheduler task, one step at a time: admission (the model in
// memory), then the prompt in chunks starting from the longest cached prefix, then one token per
// step (sample, hand to the response, run it through the model). The response side (parser,
// writer, socket) sits behind JobSink; this file knows sequences and samplers, not HTTP.
// At the end the sequence, generated tokens included, goes to the prompt cache, also when the
// client went away: the next turn of a conversation starts with them.
import { tokenLogprobs } from '../engine/sampler.js';
import type { PromptCache } from '../engine/promptCache.js';
import type { StepReport, Task } from '../engine/scheduler.js';
import { Sequence } from '../engine/sequence.js';
import { StreamDecoder } from '../tokenizer/streamDecoder.js';
import type { ModelRegistry, ServedModel } from './registry.js';
import type { PromptUsage } from './turn.js';
import type { GenerationEnd, GenerationStep } from './types.js';

/** Picks the next token from logits (the engine's Sampler; tests script the choice instead). */
export interface TokenSampler {
  sample(logits: Float32Array, history: readonly number[], generated: readonly number[]): number;
}

/** Where a job's progress goes (the HTTP response). */
export interface JobSink {
  /** The prompt starts running; `cachedTokens` of it come from the prompt cache. */
  started(prompt: PromptUsage): void;
  /** Prompt tokens processed so far (cached ones included) of `total`. */
  prefilled(done: number, total: number): void;
  /** A generated token; true asks to stop (a stop sequence or the tool-call limit was reached). */
  token(step: GenerationStep): boolean;
  /** The output so far ends inside the model's reasoning (for the thinking budget). */
  inReasoning(): boolean;
  ended(end: GenerationEnd): void;
  failed(error: unknown): void;
}

export interface JobOptions {
  id: string;
  model: ServedModel;
  registry: ModelRegistry;
  promptCache: PromptCache;
  promptIds: number[];
  /** Already clamped to the context left after the prompt. */
  maxTokens: number;
  sampler: TokenSampler;
  /** Top alternatives to report per token; undefined: no logprobs. */
  logprobsTop?: number;
  prefillChunk: number;
  sink: JobSink;
  /**
   * Anthropic thinking.budget_tokens: after this many tokens of reasoning the job writes
   * `closeIds` (the reasoning end marker) itself, so the model moves on to its answer.
   */
  thinkingBudget?: { tokens: number; closeIds: readonly number[] };
}

type State = 'queued' | 'prefill' | 'decode' | 'done';

export class GenerationJob implements Task {
  readonly id: string;
  private state: State = 'queued';
  private seq: Sequence | null = null;
  private cachedTokens = 0;
  private logits: Float32Array | null = null;
  private readonly generated: number[] = [];
  private readonly decoder: StreamDecoder;
  private readonly stopTokens: ReadonlySet<number>;
  private holdsModel = false;
  /** Tokens the job writes instead of sampling (the reasoning end marker once the budget is spent). */
  private forced: number[] = [];
  private reasoningTokens = 0;
  private cancelRequested = false;
  /** performance.now() of the first sampled token and of the end (0: not yet). */
  readonly timing = { firstToken: 0, ended: 0 };

  constructor(private readonly o: JobOptions) {
    this.id = o.id;
    this.decoder = new StreamDecoder(o.model.tokenizer);
    this.stopTokens = new Set(o.model.stopTokens);
  }

  get cancelled(): boolean {
    return this.cancelRequested;
  }

  get usage(): { promptTokens: number; cachedTokens: number; completionTokens: number } {
    return { promptTokens: this.o.promptIds.length, cachedTokens: this.cachedTokens, completionTokens: this.generated.length };
  }

  cancel(): void {
    this.cancelRequested = true;
  }

  async admit(): Promise<boolean> {
    if (!(await this.o.registry.acquire(this.o.model))) return false;
    this.holdsModel = true;
    return true;
  }

  async step(): Promise<StepReport> {
    if (this.state === 'done') return { kind: 'end', tokens: 0, done: true };
    if (this.cancelRequested) {
      this.finish(true);
      return { kind: 'end', tokens: 0, done: true };
    }
    if (this.state === 'queued') this.start();
    if (this.state === 'prefill') return this.prefillChunk();
    return this.decodeStep();
  }

  fail(error: unknown): void {
    // The sequence may be half-updated: it is dropped, not cached.
    this.seq = null;
    this.finish(false);
    this.o.sink.failed(error);
  }

  private start(): void {
    const { model, promptCache, promptIds } = this.o;
    const hit = promptCache.lookup(model.id, promptIds);
    this.seq = hit?.sequence ?? new Sequence(model.model!);
    this.cachedTokens = hit?.cachedTokens ?? 0;
    this.state = 'prefill';
    this.o.sink.started({ promptTokens: promptIds.length, cachedTokens: this.cachedTokens });
  }

  private async prefillChunk(): Promise<StepReport> {
    const seq = this.seq!;
    const total = this.o.promptIds.length;
    const chunk = this.o.promptIds.slice(seq.length, seq.length + this.o.prefillChunk);
    this.logits = await seq.prefill(chunk, chunk.length);
    if (seq.length >= total) this.state = 'decode';
    this.o.sink.prefilled(seq.length, total);
    return { kind: 'prefill', tokens: chunk.length, done: false };
  }

  private async decodeStep(): Promise<StepReport> {
    const seq = this.seq!;
    const logits = this.logits!;
    const id = this.forced.shift() ?? this.o.sampler.sample(logits, seq.tokens, this.generated);
    if (this.generated.length === 0) this.timing.firstToken = performance.now();
    if (this.stopTokens.has(id)) return this.end('eos');
    this.generated.push(id);
    const step: GenerationStep = { tokenId: id, text: this.decoder.push(id) };
    if (this.o.logprobsTop !== undefined) {
      const lp = tokenLogprobs(logits, id, this.o.logprobsTop);
      step.logprob = lp.logprob;
      step.topLogprobs = lp.top;
    }
    if (this.o.sink.token(step)) return this.end('stopped');
    this.spendThinkingBudget();
    if (this.generated.length >= this.o.maxTokens || seq.remaining < 1) return this.end('length');
    this.logits = await seq.decode(id);
    return { kind: 'decode', tokens: 1, done: false };
  }

  private spendThinkingBudget(): void {
    const budget = this.o.thinkingBudget;
    if (budget === undefined || this.reasoningTokens >= budget.tokens || !this.o.sink.inReasoning()) return;
    if (++this.reasoningTokens === budget.tokens) this.forced = [...budget.closeIds];
  }

  private end(reason: GenerationEnd['reason']): StepReport {
    const usage = { promptTokens: this.o.promptIds.length, completionTokens: this.generated.length, cachedTokens: this.cachedTokens };
    const text = this.decoder.flush();
    this.finish(true);
    this.o.sink.ended({ reason, usage, ...(text ? { text } : {}) });
    return { kind: 'end', tokens: 0, done: true };
  }

  /** Keeps the sequence for later turns (when it is sound) and lets go of the model. */
  private finish(keep: boolean): void {
    this.state = 'done';
    this.timing.ended = performance.now();
    if (keep && this.seq !== null && this.seq.length > 0) this.o.promptCache.store(this.o.model.id, this.seq);
    this.seq = null;
    this.logits = null;
    if (this.holdsModel) {
      this.holdsModel = false;
      this.o.registry.release(this.o.model);
    }
  }
}

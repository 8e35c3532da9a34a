// The HTTP side of one generation: a JobSink that writes a Turn's frames to an express response.
// Streamed: SSE headers as soon as the request is queued, comment lines while it waits or its
// prompt runs (so clients and proxies do not time out), one write per frame. Not streamed: the
// JSON body at the end. An error before the first byte gets the API's status and JSON; an error
// mid-stream gets the API's error event, so a client never sees a silently dropped socket.
import type { Response } from 'express';
import type { JobSink } from './job.js';
import { anthropicError, openaiError } from './errors.js';
import { dataFrame, eventFrame, keepAliveFrame } from './sse.js';
import type { PromptUsage, Turn } from './turn.js';
import type { GenerationEnd, GenerationStep } from './types.js';

export type ErrorStyle = 'openai' | 'anthropic';

/** Sends an error in the API's JSON shape; returns the status it used. */
export function sendError(res: Response, style: ErrorStyle, error: unknown): number {
  const { status, body } = style === 'anthropic' ? anthropicError(error) : openaiError(error);
  res.status(status).json(body);
  return status;
}

/** The error as a response body and as the stream event of its API (OpenAI: data with "error"; Anthropic: event error). */
function withFrame<B>(e: { status: number; body: B }, frame: (b: B) => string): { status: number; body: B; frame: string } {
  return { ...e, frame: frame(e.body) };
}

function errorMessage(body: { error: { message: string } }): string {
  return body.error.message;
}

export interface ResponderOptions {
  style: ErrorStyle;
  /** Longest silence on a stream before a comment line is sent. */
  keepAliveMs: number;
  /** Called once when the response is complete or failed (for the request log). */
  onDone: (outcome: { status: number; end?: GenerationEnd; error?: unknown }) => void;
}

export class Responder implements JobSink {
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private done = false;

  constructor(
    private readonly res: Response,
    private readonly turn: Turn,
    private readonly opts: ResponderOptions,
  ) {}

  private get streaming(): boolean {
    return this.turn.contentType === 'text/event-stream';
  }

  /** Called when the job is queued: a stream starts now. */
  open(): void {
    if (!this.streaming) return;
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
    this.res.socket?.setNoDelay(true);
    this.lastWrite = Date.now();
    this.timer = setInterval(() => {
      if (Date.now() - this.lastWrite >= this.opts.keepAliveMs) this.write([keepAliveFrame('waiting')]);
    }, Math.max(10, Math.floor(this.opts.keepAliveMs / 2)));
    this.timer.unref();
  }

  started(prompt: PromptUsage): void {
    this.write(this.turn.begin(prompt));
  }

  prefilled(done: number, total: number): void {
    if (done < total) this.write([keepAliveFrame(`prefill ${done}/${total}`)]);
  }

  token(step: GenerationStep): boolean {
    this.write(this.turn.step(step));
    return this.turn.shouldStop;
  }

  inReasoning(): boolean {
    return this.turn.inReasoning;
  }

  ended(end: GenerationEnd): void {
    if (this.done) return;
    const frames = this.turn.end(end);
    if (this.streaming) this.write(frames);
    else if (!this.res.destroyed) this.res.status(200).type('application/json').send(frames.join(''));
    this.finish({ status: 200, end });
  }

  failed(error: unknown): void {
    if (this.done) return;
    const { status, body, frame } = this.opts.style === 'anthropic' ? withFrame(anthropicError(error), eventFrame) : withFrame(openaiError(error), dataFrame);
    if (this.res.headersSent) this.write(this.turn.fail(errorMessage(body)) ?? [frame]);
    else if (!this.res.destroyed) this.res.status(status).json(body);
    this.finish({ status, error });
  }

  private write(frames: string[]): void {
    if (frames.length === 0 || !this.streaming || this.res.destroyed) return;
    for (const f of frames) this.res.write(f);
    this.lastWrite = Date.now();
  }

  /** Stops the keep-alive, ends a stream, reports once. */
  private finish(outcome: { status: number; end?: GenerationEnd; error?: unknown }): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.streaming && !this.res.destroyed) this.res.end();
    this.opts.onDone(outcome);
  }

  /** The client went away before the end. */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.done = true;
  }
}

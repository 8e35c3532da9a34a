// text_completion (JSON) and its SSE chunks from parser events (a completion has only text).
import type { ParsedEvent } from '../../protocol/types.js';
import type { ResponseMeta } from '../ids.js';
import { dataFrame, DONE_FRAME } from '../sse.js';
import type { Finish, ResponseWriter } from '../turn.js';
import type { DescribeToken, GenerationStep, Usage } from '../types.js';
import { completionLogprobs } from './logprobs.js';
import { usageObject } from './usage.js';
import type { CompletionChunkObject, CompletionObject } from './wire.js';

export interface CompletionWriterOptions {
  meta: ResponseMeta;
  describeToken?: DescribeToken;
  includeUsage?: boolean;
}

function textOf(events: ParsedEvent[]): string {
  return events.map((e) => (e.type === 'text' ? e.text : '')).join('');
}

/** A completion's finish_reason: there are no tool calls in a raw completion. */
function reason(finish: Finish): 'stop' | 'length' {
  return finish.reason === 'length' ? 'length' : 'stop';
}

export class CompletionStreamWriter implements ResponseWriter {
  readonly contentType = 'text/event-stream';
  private pending: GenerationStep[] = [];
  private offset = 0;

  constructor(private readonly opts: CompletionWriterOptions) {}

  begin(): string[] {
    return [];
  }

  step(events: ParsedEvent[], step: GenerationStep): string[] {
    this.pending.push(step);
    const text = textOf(events);
    return text.length === 0 ? [] : [this.chunk(text, null)];
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    const frames = [this.chunk(textOf(events), reason(finish))];
    if (this.opts.includeUsage) {
      const { id, model, created } = this.opts.meta;
      const last: CompletionChunkObject = { id, object: 'text_completion', created, model, choices: [], usage: usageObject(usage) };
      frames.push(dataFrame(last));
    }
    frames.push(DONE_FRAME);
    return frames;
  }

  private chunk(text: string, finish: 'stop' | 'length' | null): string {
    const { id, model, created } = this.opts.meta;
    let logprobs = null;
    if (this.opts.describeToken) {
      logprobs = completionLogprobs(this.pending, this.opts.describeToken, this.offset);
      this.offset += logprobs.tokens.reduce((n, t) => n + t.length, 0);
      this.pending = [];
    }
    const c: CompletionChunkObject = { id, object: 'text_completion', created, model, choices: [{ index: 0, text, logprobs, finish_reason: finish }] };
    if (this.opts.includeUsage) c.usage = null;
    return dataFrame(c);
  }
}

export class CompletionJsonWriter implements ResponseWriter {
  readonly contentType = 'application/json';
  private text = '';
  private readonly steps: GenerationStep[] = [];

  constructor(private readonly opts: CompletionWriterOptions) {}

  begin(): string[] {
    return [];
  }

  step(events: ParsedEvent[], step: GenerationStep): string[] {
    this.steps.push(step);
    this.text += textOf(events);
    return [];
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    this.text += textOf(events);
    const { id, model, created } = this.opts.meta;
    const logprobs = this.opts.describeToken ? completionLogprobs(this.steps, this.opts.describeToken, 0) : null;
    const body: CompletionObject = { id, object: 'text_completion', created, model, choices: [{ index: 0, text: this.text, logprobs, finish_reason: reason(finish) }], usage: usageObject(usage) };
    return [JSON.stringify(body)];
  }
}

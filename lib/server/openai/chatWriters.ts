// chat.completion (JSON) and chat.completion.chunk (SSE) from parser events.
// Stream order: a role chunk first; then one chunk per event (content, reasoning_content, a call's
// index/id/name, then its argument pieces); a last chunk with finish_reason; a usage chunk
// (choices: []) when include_usage; then [DONE]. Logprobs of tokens whose text is still held back
// ride on the next chunk sent.
import type { ParsedEvent } from '../../protocol/types.js';
import type { ResponseMeta } from '../ids.js';
import { dataFrame, DONE_FRAME } from '../sse.js';
import type { Finish, ResponseWriter } from '../turn.js';
import type { DescribeToken, GenerationStep, Usage } from '../types.js';
import { chatLogprob } from './logprobs.js';
import { usageObject } from './usage.js';
import type { ChatCompletionChunkObject, ChatCompletionObject, ChunkDelta, TokenLogprob, ToolCallObject } from './wire.js';

export interface ChatWriterOptions {
  meta: ResponseMeta;
  /** Set when the request asked for logprobs. */
  describeToken?: DescribeToken;
  includeUsage?: boolean;
}

export class ChatStreamWriter implements ResponseWriter {
  readonly contentType = 'text/event-stream';
  private pendingLogprobs: TokenLogprob[] = [];

  constructor(private readonly opts: ChatWriterOptions) {}

  begin(events: ParsedEvent[]): string[] {
    return [this.chunk({ role: 'assistant', content: '' }), ...this.deltas(events)];
  }

  step(events: ParsedEvent[], step: GenerationStep): string[] {
    if (this.opts.describeToken) this.pendingLogprobs.push(chatLogprob(step, this.opts.describeToken));
    return this.deltas(events);
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    const frames = [...this.deltas(events), this.chunk({}, finish.reason)];
    if (this.opts.includeUsage) {
      const { id, model, created } = this.opts.meta;
      const last: ChatCompletionChunkObject = { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usageObject(usage) };
      frames.push(dataFrame(last));
    }
    frames.push(DONE_FRAME);
    return frames;
  }

  private deltas(events: ParsedEvent[]): string[] {
    const frames: string[] = [];
    for (const e of events) {
      const d = delta(e);
      if (d !== undefined) frames.push(this.chunk(d));
    }
    return frames;
  }

  private chunk(delta: ChunkDelta, finish: Finish['reason'] | null = null): string {
    const { id, model, created } = this.opts.meta;
    const choice: ChatCompletionChunkObject['choices'][number] = { index: 0, delta, finish_reason: finish };
    if (this.opts.describeToken) {
      choice.logprobs = this.pendingLogprobs.length > 0 ? { content: this.pendingLogprobs, refusal: null } : null;
      this.pendingLogprobs = [];
    }
    const c: ChatCompletionChunkObject = { id, object: 'chat.completion.chunk', created, model, choices: [choice] };
    if (this.opts.includeUsage) c.usage = null;
    return dataFrame(c);
  }
}

function delta(e: ParsedEvent): ChunkDelta | undefined {
  switch (e.type) {
    case 'text':
      return { content: e.text };
    case 'reasoning':
      return { reasoning_content: e.text };
    case 'tool_call_start':
      return { tool_calls: [{ index: e.index, id: e.id, type: 'function', function: { name: e.name, arguments: '' } }] };
    case 'tool_call_delta':
      return { tool_calls: [{ index: e.index, function: { arguments: e.arguments } }] };
    case 'tool_call_end':
      return undefined;
  }
}

/** Collects the whole output and answers with one chat.completion at the end. */
export class ChatJsonWriter implements ResponseWriter {
  readonly contentType = 'application/json';
  private text = '';
  private reasoning = '';
  private readonly calls: ToolCallObject[] = [];
  private readonly logprobs: TokenLogprob[] = [];

  constructor(private readonly opts: ChatWriterOptions) {}

  begin(events: ParsedEvent[]): string[] {
    this.collect(events);
    return [];
  }

  step(events: ParsedEvent[], step: GenerationStep): string[] {
    if (this.opts.describeToken) this.logprobs.push(chatLogprob(step, this.opts.describeToken));
    this.collect(events);
    return [];
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    this.collect(events);
    return [JSON.stringify(this.completion(finish, usage))];
  }

  completion(finish: Finish, usage: Usage): ChatCompletionObject {
    const { id, model, created } = this.opts.meta;
    const message: ChatCompletionObject['choices'][number]['message'] = {
      role: 'assistant',
      content: this.text.length === 0 && this.calls.length > 0 ? null : this.text,
      refusal: null,
    };
    if (this.reasoning.length > 0) message.reasoning_content = this.reasoning;
    if (this.calls.length > 0) message.tool_calls = this.calls;
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: this.opts.describeToken ? { content: this.logprobs, refusal: null } : null, finish_reason: finish.reason }],
      usage: usageObject(usage),
    };
  }

  private collect(events: ParsedEvent[]): void {
    for (const e of events) {
      if (e.type === 'text') this.text += e.text;
      else if (e.type === 'reasoning') this.reasoning += e.text;
      else if (e.type === 'tool_call_start') this.calls[e.index] = { id: e.id, type: 'function', function: { name: e.name, arguments: '' } };
      else if (e.type === 'tool_call_delta') this.calls[e.index].function.arguments += e.arguments;
    }
  }
}

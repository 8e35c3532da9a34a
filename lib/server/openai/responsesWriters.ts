// Responses API answers: the SSE sequence response.created, response.in_progress, the items'
// events (responsesItems.ts), then response.completed (or response.incomplete when
// max_output_tokens cut it; response.failed on an error mid-stream), each with its
// sequence_number; or one response object. At the end a stored response's conversation goes
// to the ResponseStore for previous_response_id.
import type { ParsedEvent } from '../../protocol/types.js';
import type { ResponseMeta } from '../ids.js';
import { eventFrame } from '../sse.js';
import type { Finish, PromptUsage, ResponseWriter } from '../turn.js';
import type { Usage } from '../types.js';
import { type ItemEvent, ItemSequencer, outputMessage } from './responsesItems.js';
import type { ResponsesExtras } from './responsesRequest.js';
import type { ResponseStore } from './responseStore.js';
import type { ResponseObject, ResponsesUsageObject, ResponseStreamEvent } from './responsesWire.js';

export interface ResponsesWriterOptions {
  meta: ResponseMeta;
  extras: ResponsesExtras;
  store?: ResponseStore;
}

export function responsesUsage(u: Usage): ResponsesUsageObject {
  return {
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
    total_tokens: u.promptTokens + u.completionTokens,
  };
}

/** The shared part of both writers: the items, the response object, storing at the end. */
abstract class ResponsesWriterBase {
  protected readonly items: ItemSequencer;

  constructor(protected readonly o: ResponsesWriterOptions) {
    this.items = new ItemSequencer(o.extras);
  }

  protected response(status: ResponseObject['status'], usage: Usage | null, extra: Partial<Pick<ResponseObject, 'error' | 'incomplete_details'>> = {}): ResponseObject {
    const { id, model, created } = this.o.meta;
    return {
      id,
      object: 'response',
      created_at: created,
      completed_at: status === 'in_progress' ? null : Math.floor(Date.now() / 1000),
      model,
      status,
      output: structuredClone(this.items.output),
      output_text: this.items.text,
      error: null,
      incomplete_details: null,
      ...(usage === null ? {} : { usage: responsesUsage(usage) }),
      service_tier: 'default',
      background: false,
      ...this.o.extras.echo,
      ...extra,
    };
  }

  /** Finishes the items and returns the final response; stores its conversation when asked to. */
  protected complete(events: ParsedEvent[], finish: Finish, usage: Usage): { events: ItemEvent[]; response: ResponseObject } {
    const cut = finish.reason === 'length';
    const itemEvents = [...this.items.events(events), ...this.items.finish(cut ? 'incomplete' : 'completed')];
    const response = this.response(cut ? 'incomplete' : 'completed', usage, cut ? { incomplete_details: { reason: 'max_output_tokens' } } : {});
    if (this.o.extras.store && this.o.store) this.o.store.put(this.o.meta.id, [...this.o.extras.conversation, outputMessage(this.items.output)]);
    return { events: itemEvents, response };
  }
}

export class ResponsesStreamWriter extends ResponsesWriterBase implements ResponseWriter {
  readonly contentType = 'text/event-stream';
  private sequence = 0;

  begin(events: ParsedEvent[], _prompt: PromptUsage): string[] {
    const head = this.response('in_progress', null);
    return [this.frame({ type: 'response.created', response: head }), this.frame({ type: 'response.in_progress', response: head }), ...this.frames(this.items.events(events))];
  }

  step(events: ParsedEvent[]): string[] {
    return this.frames(this.items.events(events));
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    const { events: last, response } = this.complete(events, finish, usage);
    const type = response.status === 'incomplete' ? 'response.incomplete' : 'response.completed';
    return [...this.frames(last), this.frame({ type, response })];
  }

  fail(message: string): string[] {
    return [this.frame({ type: 'response.failed', response: this.response('failed', null, { error: { code: 'server_error', message } }) })];
  }

  private frames(events: ItemEvent[]): string[] {
    return events.map((e) => this.frame(e));
  }

  private frame(e: ItemEvent): string {
    return eventFrame({ ...e, sequence_number: this.sequence++ } as ResponseStreamEvent);
  }
}

export class ResponsesJsonWriter extends ResponsesWriterBase implements ResponseWriter {
  readonly contentType = 'application/json';

  begin(events: ParsedEvent[]): string[] {
    this.items.events(events);
    return [];
  }

  step(events: ParsedEvent[]): string[] {
    this.items.events(events);
    return [];
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    return [JSON.stringify(this.complete(events, finish, usage).response)];
  }
}

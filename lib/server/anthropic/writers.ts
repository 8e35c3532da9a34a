// Anthropic Messages responses: the SSE sequence message_start, ping, content_block_start / _delta /
// _stop per block, message_delta (stop_reason, usage), message_stop; or one message object.
import type { ParsedEvent } from '../../protocol/types.js';
import type { ResponseMeta } from '../ids.js';
import { eventFrame } from '../sse.js';
import type { Finish, PromptUsage, ResponseWriter } from '../turn.js';
import type { Usage } from '../types.js';
import { BlockSequencer } from './blocks.js';
import { JsonObjectPrefix } from './jsonPrefix.js';
import type { ContentBlock, MessageObject, StopReason, StreamEvent, TokenCountObject, UsageObject } from './wire.js';

export function stopReason(finish: Finish): StopReason {
  if (finish.reason === 'length') return 'max_tokens';
  if (finish.reason === 'tool_calls') return 'tool_use';
  return finish.stopSequence === undefined ? 'end_turn' : 'stop_sequence';
}

/** Anthropic counts cache reads apart from input_tokens: the prompt is their sum. */
export function usageObject(prompt: PromptUsage, outputTokens: number): UsageObject {
  return {
    input_tokens: prompt.promptTokens - prompt.cachedTokens,
    output_tokens: outputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: prompt.cachedTokens,
    cache_creation: null,
    inference_geo: null,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: 'standard',
    speed: null,
  };
}

function message(meta: ResponseMeta, content: ContentBlock[], usage: UsageObject, finish: Finish | undefined): MessageObject {
  return {
    id: meta.id,
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content,
    stop_reason: finish === undefined ? null : stopReason(finish),
    stop_sequence: finish?.stopSequence ?? null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage,
  };
}

export class MessagesStreamWriter implements ResponseWriter {
  readonly contentType = 'text/event-stream';
  private readonly blocks: BlockSequencer;

  /** omitReasoning: thinking.display "omitted". */
  constructor(
    private readonly meta: ResponseMeta,
    omitReasoning = false,
  ) {
    this.blocks = new BlockSequencer(omitReasoning);
  }

  begin(events: ParsedEvent[], prompt: PromptUsage): string[] {
    const start: StreamEvent = { type: 'message_start', message: message(this.meta, [], usageObject(prompt, 0), undefined) };
    return [eventFrame(start), eventFrame({ type: 'ping' }), ...this.blocks.events(events).map(eventFrame)];
  }

  step(events: ParsedEvent[]): string[] {
    return this.blocks.events(events).map(eventFrame);
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    const u = usageObject(usage, usage.completionTokens);
    const delta: StreamEvent = {
      type: 'message_delta',
      delta: { stop_reason: stopReason(finish), stop_sequence: finish.stopSequence ?? null, stop_details: null, container: null },
      usage: {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        output_tokens_details: null,
        server_tool_use: null,
      },
    };
    return [...[...this.blocks.events(events), ...this.blocks.finish()].map(eventFrame), eventFrame(delta), eventFrame({ type: 'message_stop' })];
  }
}

/** Builds the message from the same block events the stream sends. */
export class MessagesJsonWriter implements ResponseWriter {
  readonly contentType = 'application/json';
  private readonly blocks: BlockSequencer;
  private readonly content: ContentBlock[] = [];
  private readonly inputJson = new Map<number, string>();

  constructor(
    private readonly meta: ResponseMeta,
    omitReasoning = false,
  ) {
    this.blocks = new BlockSequencer(omitReasoning);
  }

  begin(events: ParsedEvent[]): string[] {
    this.apply(this.blocks.events(events));
    return [];
  }

  step(events: ParsedEvent[]): string[] {
    this.apply(this.blocks.events(events));
    return [];
  }

  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[] {
    this.apply([...this.blocks.events(events), ...this.blocks.finish()]);
    return [JSON.stringify(message(this.meta, this.content, usageObject(usage, usage.completionTokens), finish))];
  }

  private apply(events: ReturnType<BlockSequencer['events']>): void {
    for (const e of events) {
      if (e.type === 'content_block_start') this.content[e.index] = { ...e.content_block };
      else if (e.type === 'content_block_delta') {
        const block = this.content[e.index];
        if (e.delta.type === 'text_delta' && block.type === 'text') block.text += e.delta.text;
        else if (e.delta.type === 'thinking_delta' && block.type === 'thinking') block.thinking += e.delta.thinking;
        else if (e.delta.type === 'signature_delta' && block.type === 'thinking') block.signature = e.delta.signature;
        else if (e.delta.type === 'input_json_delta') this.inputJson.set(e.index, (this.inputJson.get(e.index) ?? '') + e.delta.partial_json);
      } else {
        const block = this.content[e.index];
        if (block.type === 'tool_use') block.input = inputObject(this.inputJson.get(e.index) ?? '{}');
      }
    }
  }
}

/** A tool_use input: the arguments sent, or — when the model broke off — what they held at the last complete value. */
function inputObject(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    const prefix = new JsonObjectPrefix();
    prefix.push(json);
    return JSON.parse(prefix.closed() || '{}');
  }
}

export function countTokensObject(inputTokens: number): TokenCountObject {
  return { input_tokens: inputTokens };
}

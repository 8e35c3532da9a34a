// Parser events → Responses output items and their stream events: reasoning goes to a reasoning
// item (reasoning_text content), text to a message item (one output_text part), each tool call
// to its own function_call item whose arguments arrive as deltas. An item is opened lazily and
// closed (…done events, output_item.done) when output of another kind begins. The streamed events
// and the non-streamed response both come from this one sequence; `output` is the snapshot.
import type { ParsedEvent } from '../../protocol/types.js';
import type { ChatMessage, ToolCall } from '../../tokenizer/index.js';
import { carryReasoning } from '../carriedReasoning.js';
import { randomId } from '../../protocol/ids.js';
import type { ResponsesExtras } from './responsesRequest.js';
import type { FunctionCallItem, ItemStatus, MessageItem, OutputItem, ReasoningItem, ResponseStreamEvent } from './responsesWire.js';

/** A stream event before its sequence number is given. */
export type ItemEvent = ResponseStreamEvent extends infer E ? (E extends ResponseStreamEvent ? Omit<E, 'sequence_number'> : never) : never;

export class ItemSequencer {
  readonly output: OutputItem[] = [];
  private open: number | undefined;

  constructor(private readonly extras: Pick<ResponsesExtras, 'namespaced' | 'carryReasoning'>) {}

  events(parsed: readonly ParsedEvent[]): ItemEvent[] {
    const out: ItemEvent[] = [];
    for (const e of parsed) {
      switch (e.type) {
        case 'text': {
          const i = this.ensure('message', out);
          const item = this.output[i] as MessageItem;
          item.content[0]!.text += e.text;
          out.push({ type: 'response.output_text.delta', output_index: i, item_id: item.id, content_index: 0, delta: e.text, logprobs: [] });
          break;
        }
        case 'reasoning': {
          const i = this.ensure('reasoning', out);
          const item = this.output[i] as ReasoningItem;
          item.content[0]!.text += e.text;
          out.push({ type: 'response.reasoning_text.delta', output_index: i, item_id: item.id, content_index: 0, delta: e.text });
          break;
        }
        case 'tool_call_start': {
          this.close('completed', out);
          const ns = this.extras.namespaced[e.name];
          const item: FunctionCallItem = { type: 'function_call', id: randomId('fc_'), call_id: e.id, name: ns?.name ?? e.name, ...(ns ? { namespace: ns.namespace } : {}), arguments: '', status: 'in_progress' };
          this.output.push(item);
          this.open = this.output.length - 1;
          out.push({ type: 'response.output_item.added', output_index: this.open, item: { ...item } });
          break;
        }
        case 'tool_call_delta': {
          const item = this.openItem();
          if (item?.type !== 'function_call') break;
          item.arguments += e.arguments;
          out.push({ type: 'response.function_call_arguments.delta', output_index: this.open!, item_id: item.id, delta: e.arguments });
          break;
        }
        case 'tool_call_end':
          if (this.openItem()?.type === 'function_call') this.close('completed', out);
          break;
      }
    }
    return out;
  }

  /** Closes the open item: completed, or incomplete when the output was cut (max_output_tokens). */
  finish(status: ItemStatus): ItemEvent[] {
    const out: ItemEvent[] = [];
    this.close(status, out);
    return out;
  }

  /** The output text, joined (the response's output_text). */
  get text(): string {
    return this.output.flatMap((o) => (o.type === 'message' ? o.content.map((c) => c.text) : [])).join('');
  }

  private openItem(): OutputItem | undefined {
    return this.open === undefined ? undefined : this.output[this.open];
  }

  private ensure(kind: 'message' | 'reasoning', out: ItemEvent[]): number {
    if (this.openItem()?.type === kind) return this.open!;
    this.close('completed', out);
    const item: OutputItem =
      kind === 'message'
        ? { type: 'message', id: randomId('msg_'), role: 'assistant', status: 'in_progress', content: [{ type: 'output_text', text: '', annotations: [] }] }
        : { type: 'reasoning', id: randomId('rs_'), summary: [], content: [{ type: 'reasoning_text', text: '' }], status: 'in_progress' };
    this.output.push(item);
    const i = (this.open = this.output.length - 1);
    out.push({ type: 'response.output_item.added', output_index: i, item: { ...item, content: [] } as OutputItem });
    const part = kind === 'message' ? { type: 'output_text' as const, text: '', annotations: [] } : { type: 'reasoning_text' as const, text: '' };
    out.push({ type: 'response.content_part.added', output_index: i, item_id: item.id, content_index: 0, part });
    return i;
  }

  private close(status: ItemStatus, out: ItemEvent[]): void {
    const item = this.openItem();
    if (item === undefined) return;
    const i = this.open!;
    this.open = undefined;
    item.status = status;
    if (item.type === 'message') {
      const part = item.content[0]!;
      out.push({ type: 'response.output_text.done', output_index: i, item_id: item.id, content_index: 0, text: part.text, logprobs: [] });
      out.push({ type: 'response.content_part.done', output_index: i, item_id: item.id, content_index: 0, part: { ...part } });
    } else if (item.type === 'reasoning') {
      const part = item.content[0]!;
      out.push({ type: 'response.reasoning_text.done', output_index: i, item_id: item.id, content_index: 0, text: part.text });
      out.push({ type: 'response.content_part.done', output_index: i, item_id: item.id, content_index: 0, part: { ...part } });
      if (this.extras.carryReasoning) item.encrypted_content = carryReasoning(part.text);
    } else {
      out.push({ type: 'response.function_call_arguments.done', output_index: i, item_id: item.id, name: item.name, arguments: item.arguments });
    }
    out.push({ type: 'response.output_item.done', output_index: i, item: structuredClone(item) });
  }
}

/** The output as the assistant turn the next request continues (for previous_response_id). */
export function outputMessage(output: readonly OutputItem[]): ChatMessage {
  const text: string[] = [];
  const reasoning: string[] = [];
  const calls: ToolCall[] = [];
  for (const o of output) {
    if (o.type === 'message') text.push(o.content.map((c) => c.text).join(''));
    else if (o.type === 'reasoning') reasoning.push(o.content.map((c) => c.text).join(''));
    else {
      const name = o.namespace === undefined ? o.name : `${o.namespace}.${o.name}`;
      let args: Record<string, unknown> = {};
      try {
        const v: unknown = JSON.parse(o.arguments);
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) args = v as Record<string, unknown>;
      } catch {
        // the parser reported it; the model's own text is what gets rendered back
      }
      calls.push({ id: o.call_id, type: 'function', function: { name, arguments: args, arguments_text: o.arguments } as ToolCall['function'] });
    }
  }
  const m: ChatMessage = { role: 'assistant', content: text.join('') };
  if (reasoning.length > 0) m.reasoning_content = reasoning.join('\n');
  if (calls.length > 0) m.tool_calls = calls;
  return m;
}

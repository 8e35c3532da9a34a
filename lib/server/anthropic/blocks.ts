// Parser events → Anthropic content-block events: reasoning goes to a thinking block, text to a
// text block, each tool call to its own tool_use block whose input arrives as input_json_delta
// pieces (malformed arguments are cut where they stop being JSON: jsonPrefix.ts). A block is opened lazily and closed when output of another kind begins. The streamed
// events and the non-streamed message are both built from this one sequence. With the reasoning
// omitted (thinking.display "omitted") a thinking block gets no text, only a signature_delta
// before it closes, whose signature carries the reasoning for the next turn (carriedReasoning.ts).
import type { ParsedEvent } from '../../protocol/types.js';
import { toAnthropicToolId } from '../toolIds.js';
import { carryReasoning } from '../carriedReasoning.js';
import { JsonObjectPrefix } from './jsonPrefix.js';
import type { StreamEvent } from './wire.js';

type BlockEvent = Extract<StreamEvent, { type: 'content_block_start' | 'content_block_delta' | 'content_block_stop' }>;

export class BlockSequencer {
  private open: { kind: 'text' | 'thinking' | 'tool_use'; index: number } | undefined;
  /** The open tool_use block's arguments: only pieces that keep them a JSON-object prefix are sent. */
  private args = new JsonObjectPrefix();
  private next = 0;
  /** Reasoning of the open thinking block, when it is omitted. */
  private hidden = '';

  constructor(private readonly omitReasoning = false) {}

  events(parsed: readonly ParsedEvent[]): BlockEvent[] {
    const out: BlockEvent[] = [];
    for (const e of parsed) {
      switch (e.type) {
        case 'text':
          this.ensure('text', out);
          out.push({ type: 'content_block_delta', index: this.open!.index, delta: { type: 'text_delta', text: e.text } });
          break;
        case 'reasoning':
          this.ensure('thinking', out);
          if (this.omitReasoning) this.hidden += e.text;
          else out.push({ type: 'content_block_delta', index: this.open!.index, delta: { type: 'thinking_delta', thinking: e.text } });
          break;
        case 'tool_call_start':
          this.close(out);
          this.open = { kind: 'tool_use', index: this.next++ };
          this.args = new JsonObjectPrefix();
          out.push({ type: 'content_block_start', index: this.open.index, content_block: { type: 'tool_use', id: toAnthropicToolId(e.id), name: e.name, input: {}, caller: { type: 'direct' } } });
          break;
        case 'tool_call_delta': {
          const piece = this.open?.kind === 'tool_use' ? this.args.push(e.arguments) : '';
          if (piece) out.push({ type: 'content_block_delta', index: this.open!.index, delta: { type: 'input_json_delta', partial_json: piece } });
          break;
        }
        case 'tool_call_end':
          if (this.open?.kind === 'tool_use') this.close(out);
          break;
      }
    }
    return out;
  }

  /** Closes the open block (end of the message). */
  finish(): BlockEvent[] {
    const out: BlockEvent[] = [];
    this.close(out);
    return out;
  }

  private ensure(kind: 'text' | 'thinking', out: BlockEvent[]): void {
    if (this.open?.kind === kind) return;
    this.close(out);
    this.open = { kind, index: this.next++ };
    const block = kind === 'text' ? { type: 'text' as const, text: '', citations: null } : { type: 'thinking' as const, thinking: '', signature: '' };
    out.push({ type: 'content_block_start', index: this.open.index, content_block: block });
  }

  private close(out: BlockEvent[]): void {
    if (this.open === undefined) return;
    if (this.open.kind === 'thinking' && this.omitReasoning) {
      out.push({ type: 'content_block_delta', index: this.open.index, delta: { type: 'signature_delta', signature: carryReasoning(this.hidden) } });
      this.hidden = '';
    }
    out.push({ type: 'content_block_stop', index: this.open.index });
    this.open = undefined;
  }
}

// Hermes / Qwen2.5 / Qwen3 tool calls: each call is a JSON object between <tool_call> and
// </tool_call>, several calls one after another (Qwen chat templates; vLLM hermes_tool_parser).
// The model writes no id, so one is made up per call.
import { CallObjectReader, type ReadResult } from './callObjectReader.js';
import { drainMarkers, TrailingSpace } from './markerScanner.js';
import { CallLog, clip, pushText } from './toolCalls.js';
import type { ParsedEvent, StreamParser, ToolSpec } from './types.js';

export const HERMES = { open: '<tool_call>', close: '</tool_call>' } as const;

export class HermesToolParser implements StreamParser {
  readonly calls: CallLog;
  private inCall = false;
  private pending = '';
  private reader = new CallObjectReader();
  private body = '';
  private started = false;
  private afterCall = false;
  private readonly contentTail = new TrailingSpace();

  constructor(tools: readonly ToolSpec[] | undefined, private readonly newId: () => string) {
    this.calls = new CallLog(tools);
  }

  feed(text: string): ParsedEvent[] {
    return this.run(this.pending + text, false);
  }

  finish(): ParsedEvent[] {
    const out = this.run(this.pending, true);
    if (this.inCall) {
      const r: ReadResult = { args: '' };
      this.reader.end(r);
      this.take(r, out);
      if (!this.reader.done && this.started) {
        this.calls.report({ kind: 'unterminated_call', index: this.calls.index, message: `generation ended inside tool call ${this.calls.index} (no </tool_call>)` });
      }
      this.closeCall(out, false);
    } else {
      pushText(out, this.contentTail.release());
    }
    return out;
  }

  private run(buffer: string, final: boolean): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    const onText = (text: string) => {
      if (this.inCall) {
        this.body += text;
        this.take(this.reader.feed(text), out);
      } else {
        const t = this.afterCall ? text.trimStart() : text;
        if (t.length > 0) this.afterCall = false;
        pushText(out, this.contentTail.push(t));
      }
    };
    const onMarker = () => (this.inCall ? this.closeCall(out, true) : this.openCall());
    this.pending = drainMarkers(buffer, final, () => [this.inCall ? HERMES.close : HERMES.open], onText, onMarker);
    return out;
  }

  private openCall(): void {
    this.inCall = true;
    this.reader = new CallObjectReader();
    this.body = '';
    this.started = false;
  }

  private take(r: ReadResult, out: ParsedEvent[]): void {
    if (r.name !== undefined) {
      // A real call: the whitespace before it was not answer text.
      this.contentTail.drop();
      this.calls.start(this.newId(), r.name, out);
      this.started = true;
    }
    if (this.started) this.calls.args(r.args, out);
  }

  private closeCall(out: ParsedEvent[], closed: boolean): void {
    this.inCall = false;
    if (this.started) {
      this.calls.end(out);
      this.afterCall = true;
      return;
    }
    // Not a readable call: its text is kept as answer text so nothing the model wrote is lost.
    const why = this.reader.failure ?? (this.reader.done ? 'the object has no "name"' : 'the object is incomplete');
    this.calls.report({ kind: 'malformed_call', message: `a <tool_call> block could not be read (${why}): ${clip(this.body)}` });
    pushText(out, this.contentTail.release() + HERMES.open + this.body + (closed ? HERMES.close : ''));
  }
}

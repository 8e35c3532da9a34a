// Kimi-K2 / K2.5 native tool calls (kimi.md §4.4, vLLM kimi_k2_tool_parser):
//   <|tool_calls_section_begin|>
//     <|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{json}<|tool_call_end|> …
//   <|tool_calls_section_end|>
// The id is kept exactly as written (the chat template renders it back verbatim); the name is the
// id without "functions." and ":IDX". Arguments are passed on as they arrive.
import { CallLog, pushText } from './toolCalls.js';
import { drainMarkers, TrailingSpace } from './markerScanner.js';
import type { ParsedEvent, StreamParser, ToolSpec } from './types.js';

export const KIMI = {
  sectionBegin: ['<|tool_calls_section_begin|>', '<|tool_call_section_begin|>'],
  sectionEnd: ['<|tool_calls_section_end|>', '<|tool_call_section_end|>'],
  callBegin: '<|tool_call_begin|>',
  argumentBegin: '<|tool_call_argument_begin|>',
  callEnd: '<|tool_call_end|>',
} as const;

/** Markers that open tool calls (and, for K2.5, end reasoning). */
export const KIMI_OPENERS: readonly string[] = [...KIMI.sectionBegin, KIMI.callBegin];

/** "functions.get_weather:0" → "get_weather" (also "get_weather:0"). */
export function kimiFunctionName(id: string): string {
  const noIndex = id.replace(/:\d+$/, '');
  return noIndex.startsWith('functions.') ? noIndex.slice('functions.'.length) : noIndex.slice(noIndex.lastIndexOf('.') + 1);
}

/** skip: the arguments of a call whose header named no function (reported, not passed on). */
type State = 'content' | 'section' | 'id' | 'args' | 'skip';

export class KimiToolParser implements StreamParser {
  readonly calls: CallLog;
  private state: State = 'content';
  private pending = '';
  private id = '';
  private readonly contentTail = new TrailingSpace();
  private readonly argsTail = new TrailingSpace();
  private argsStarted = false;
  /** Inside <|tool_calls_section_begin|> … (a call may also come without one: then false). */
  private inSection = false;
  /** Whitespace right after a section is not answer text. */
  private afterSection = false;

  constructor(tools?: readonly ToolSpec[]) {
    this.calls = new CallLog(tools);
  }

  feed(text: string): ParsedEvent[] {
    return this.run(this.pending + text, false);
  }

  finish(): ParsedEvent[] {
    const out = this.run(this.pending, true);
    switch (this.state) {
      case 'content':
        pushText(out, this.contentTail.release());
        break;
      case 'section':
        if (this.inSection) this.calls.report({ kind: 'unclosed_section', message: 'generation ended inside a tool-call section (no <|tool_calls_section_end|>)' });
        break;
      case 'id':
        this.calls.report({ kind: 'malformed_call', index: this.calls.index, message: `generation ended inside the header of a tool call (${JSON.stringify(this.id)}); the call was dropped` });
        break;
      case 'args':
        this.calls.report({ kind: 'unterminated_call', index: this.calls.index, message: `generation ended inside tool call ${this.calls.index} (no <|tool_call_end|>)` });
        this.endCall(out);
        break;
      case 'skip':
        break;
    }
    return out;
  }

  private markers(): readonly string[] {
    switch (this.state) {
      case 'content':
        return KIMI_OPENERS;
      case 'section':
        return [KIMI.callBegin, ...KIMI.sectionEnd];
      case 'id':
        return [KIMI.argumentBegin, KIMI.callBegin, KIMI.callEnd, ...KIMI.sectionEnd];
      case 'args':
      case 'skip':
        return [KIMI.callEnd, KIMI.callBegin, ...KIMI.sectionEnd];
    }
  }

  private run(buffer: string, final: boolean): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    this.pending = drainMarkers(buffer, final, () => this.markers(), (t) => this.consume(t, out), (m) => this.onMarker(m, out));
    return out;
  }

  private consume(t: string, out: ParsedEvent[]): void {
    if (t.length === 0) return;
    switch (this.state) {
      case 'content': {
        const c = this.afterSection ? t.trimStart() : t;
        if (c.length === 0) return;
        this.afterSection = false;
        pushText(out, this.contentTail.push(c));
        break;
      }
      case 'section':
        if (t.trim().length > 0) this.calls.report({ kind: 'stray_text', message: `text inside a tool-call section outside any call was dropped: ${JSON.stringify(t)}` });
        break;
      case 'id':
        this.id += t;
        break;
      case 'args': {
        const a = this.argsStarted ? t : t.trimStart();
        if (a.length === 0) return;
        this.argsStarted = true;
        this.calls.args(this.argsTail.push(a), out);
        break;
      }
      case 'skip':
        break;
    }
  }

  private onMarker(marker: string, out: ParsedEvent[]): void {
    const s = this.state;
    if (s === 'args' && marker !== KIMI.callEnd) {
      this.calls.report({ kind: 'unterminated_call', index: this.calls.index, message: `tool call ${this.calls.index} was not closed with <|tool_call_end|> before ${marker}` });
    }
    if (s === 'id' && marker !== KIMI.argumentBegin) {
      this.calls.report({ kind: 'malformed_call', index: this.calls.index, message: `tool call header ${JSON.stringify(this.id)} has no <|tool_call_argument_begin|>; the call was dropped` });
    }
    if (s === 'args') this.endCall(out);

    if (marker === KIMI.callBegin) {
      if (s === 'content') this.contentTail.drop();
      this.id = '';
      this.state = 'id';
    } else if (marker === KIMI.argumentBegin) {
      this.startCall(out);
    } else if ((KIMI.sectionBegin as readonly string[]).includes(marker)) {
      this.contentTail.drop();
      this.inSection = true;
      this.state = 'section';
    } else if ((KIMI.sectionEnd as readonly string[]).includes(marker) || !this.inSection) {
      // A section end, or the <|tool_call_end|> of a call written without a section.
      this.leaveSection();
    } else {
      this.state = 'section';
    }
  }

  private leaveSection(): void {
    this.inSection = false;
    this.afterSection = true;
    this.state = 'content';
  }

  private startCall(out: ParsedEvent[]): void {
    const id = this.id.trim();
    const name = kimiFunctionName(id);
    if (name.length === 0) {
      this.calls.report({ kind: 'malformed_call', message: `tool call id ${JSON.stringify(id)} names no function; the call was dropped` });
      this.state = 'skip';
      return;
    }
    this.calls.start(id, name, out);
    this.argsStarted = false;
    this.state = 'args';
  }

  private endCall(out: ParsedEvent[]): void {
    this.argsTail.drop();
    this.calls.end(out);
  }
}

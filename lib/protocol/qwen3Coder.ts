// Qwen3-Coder tool calls (its chat template; vLLM qwen3coder_tool_parser):
//   <tool_call>\n<function=NAME>\n<parameter=P>\nVALUE\n</parameter>\n…</function>\n</tool_call>
// Values are plain text; they become JSON by the declared parameter type (a string stays a string,
// "3" becomes 3 for a number). Arguments are passed on one parameter at a time.
import { drainMarkers, TrailingSpace } from './markerScanner.js';
import { CallLog, pushText } from './toolCalls.js';
import type { ParsedEvent, StreamParser, ToolSpec } from './types.js';

export const QWEN3_CODER = {
  open: '<tool_call>',
  close: '</tool_call>',
  functionOpen: '<function=',
  functionClose: '</function>',
  parameterOpen: '<parameter=',
  parameterClose: '</parameter>',
} as const;
const Q = QWEN3_CODER;

type State = 'content' | 'call' | 'functionName' | 'function' | 'parameterName' | 'value';

const MARKERS: Record<State, readonly string[]> = {
  content: [Q.open],
  call: [Q.functionOpen, Q.close],
  functionName: ['>'],
  function: [Q.parameterOpen, Q.functionClose, Q.close],
  parameterName: ['>'],
  // A value also ends where the next parameter opens (a forgotten </parameter>, as vLLM reads it).
  value: [Q.parameterClose, Q.parameterOpen, Q.functionClose, Q.close],
};

export class Qwen3CoderToolParser implements StreamParser {
  readonly calls: CallLog;
  private state: State = 'content';
  private pending = '';
  private word = '';
  private functionName = '';
  private parameter = '';
  private value = '';
  private params = 0;
  private afterCall = false;
  private readonly contentTail = new TrailingSpace();

  constructor(private readonly tools: readonly ToolSpec[] | undefined, private readonly newId: () => string) {
    this.calls = new CallLog(tools);
  }

  feed(text: string): ParsedEvent[] {
    return this.run(this.pending + text, false);
  }

  finish(): ParsedEvent[] {
    const out = this.run(this.pending, true);
    if (this.state === 'content') {
      pushText(out, this.contentTail.release());
    } else if (this.calls.open) {
      this.calls.report({ kind: 'unterminated_call', index: this.calls.index, message: `generation ended inside tool call ${this.calls.index} (no </function>)` });
      if (this.state === 'value') this.endParameter(out);
      this.endFunction(out);
    } else if (this.state !== 'call') {
      this.calls.report({ kind: 'malformed_call', message: `generation ended inside a tool-call header (${JSON.stringify(this.word)})` });
    }
    return out;
  }

  private run(buffer: string, final: boolean): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    this.pending = drainMarkers(buffer, final, () => MARKERS[this.state], (t) => this.consume(t, out), (m) => this.onMarker(m, out));
    return out;
  }

  private consume(t: string, out: ParsedEvent[]): void {
    switch (this.state) {
      case 'content': {
        const c = this.afterCall ? t.trimStart() : t;
        if (c.length > 0) this.afterCall = false;
        pushText(out, this.contentTail.push(c));
        return;
      }
      case 'functionName':
      case 'parameterName':
        this.word += t;
        return;
      case 'value':
        this.value += t;
        return;
      case 'call':
      case 'function':
        if (t.trim().length > 0) this.calls.report({ kind: 'stray_text', message: `text inside a tool call outside any parameter was dropped: ${JSON.stringify(t)}` });
        return;
    }
  }

  private onMarker(marker: string, out: ParsedEvent[]): void {
    switch (this.state) {
      case 'content':
        this.contentTail.drop();
        this.state = 'call';
        return;
      case 'call':
        if (marker === Q.functionOpen) this.startWord('functionName');
        else this.leaveCall();
        return;
      case 'functionName':
        this.functionName = this.word.trim();
        this.calls.start(this.newId(), this.functionName, out);
        this.params = 0;
        this.state = 'function';
        return;
      case 'parameterName':
        this.parameter = this.word.trim();
        this.value = '';
        this.state = 'value';
        return;
      case 'value':
        this.endParameter(out);
        this.state = 'function';
        if (marker !== Q.parameterClose) this.onMarker(marker, out);
        return;
      case 'function':
        if (marker === Q.parameterOpen) return this.startWord('parameterName');
        if (marker === Q.close) {
          this.calls.report({ kind: 'unterminated_call', index: this.calls.index, message: `tool call ${this.calls.index} was not closed with </function>` });
        }
        this.endFunction(out);
        if (marker === Q.close) this.leaveCall();
        return;
    }
  }

  private startWord(state: 'functionName' | 'parameterName'): void {
    this.word = '';
    this.state = state;
  }

  private leaveCall(): void {
    this.state = 'content';
    this.afterCall = true;
  }

  private endParameter(out: ParsedEvent[]): void {
    // The template writes each value between newlines: "<parameter=p>\nVALUE\n</parameter>".
    const raw = this.value.replace(/^\n/, '').replace(/\n$/, '');
    const value = typedValue(raw, parameterType(this.tools, this.functionName, this.parameter));
    this.calls.args(`${this.params === 0 ? '{' : ', '}${JSON.stringify(this.parameter)}: ${JSON.stringify(value)}`, out);
    this.params++;
  }

  private endFunction(out: ParsedEvent[]): void {
    if (this.params > 0) this.calls.args('}', out);
    this.calls.end(out);
    this.state = 'call';
  }
}

function parameterType(tools: readonly ToolSpec[] | undefined, fn: string, param: string): unknown {
  const schema = tools?.find((t) => t.name === fn)?.parameters as { properties?: Record<string, { type?: unknown }> } | undefined;
  return schema?.properties?.[param]?.type;
}

/** The parameter text as the JSON value its declared type says (vLLM's qwen3coder conversion). */
export function typedValue(raw: string, type: unknown): unknown {
  const types = Array.isArray(type) ? type : [type];
  if (types.includes('string')) return raw;
  if (raw === 'null' && (types.includes('null') || type === undefined)) return null;
  if (types.includes('integer') || types.includes('number')) {
    const n = Number(raw.trim());
    if (raw.trim().length > 0 && Number.isFinite(n)) return n;
  }
  if (types.includes('boolean')) {
    const b = raw.trim().toLowerCase();
    if (b === 'true' || b === 'false') return b === 'true';
  }
  if (types.includes('object') || types.includes('array') || type === undefined) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

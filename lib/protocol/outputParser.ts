// Generated text → events, for one response: stop sequences first (on the raw text), then the
// reasoning split, then the tool-call format on the answer text. Feed it decoded text as it comes.
import { HermesToolParser } from './hermes.js';
import { randomCallId } from './ids.js';
import { KIMI_OPENERS, KimiToolParser } from './kimi.js';
import { Qwen3CoderToolParser } from './qwen3Coder.js';
import { ReasoningSplitter, type ReasoningMarkers, type SplitPiece } from './reasoning.js';
import { StopMatcher } from './stopStrings.js';
import type { CallLog } from './toolCalls.js';
import type { ParsedEvent, ParseIssue, StreamParser, ToolCallFormat, ToolSpec } from './types.js';

export interface OutputParserOptions {
  toolFormat?: ToolCallFormat;
  /** Declared tools: names to check calls against, schemas for typed formats. */
  tools?: readonly ToolSpec[];
  reasoning?: ReasoningMarkers;
  /** The prompt ended inside open reasoning. */
  startInReasoning?: boolean;
  stop?: readonly string[];
  /** Stop after this many tool calls (parallel_tool_calls: false → 1). */
  maxToolCalls?: number;
  /** Text the server put at the start of the assistant turn (a forced call's opening). */
  prefill?: string;
  /** Ids for formats where the model writes none. */
  newCallId?: () => string;
}

type ToolParser = StreamParser & { readonly calls: CallLog };

export class OutputParser {
  private readonly stop: StopMatcher;
  private readonly reasoning: ReasoningSplitter | undefined;
  private readonly tools: ToolParser | undefined;
  private finishedCalls = 0;
  private limitReached = false;

  constructor(private readonly opts: OutputParserOptions = {}) {
    this.stop = new StopMatcher(opts.stop ?? []);
    const newId = opts.newCallId ?? randomCallId;
    if (opts.toolFormat === 'kimi_k2') this.tools = new KimiToolParser(opts.tools);
    else if (opts.toolFormat === 'hermes') this.tools = new HermesToolParser(opts.tools, newId);
    else if (opts.toolFormat === 'qwen3_coder') this.tools = new Qwen3CoderToolParser(opts.tools, newId);
    if (opts.reasoning !== undefined) {
      // Kimi-K2.5 may open a tool call from inside its reasoning.
      const implicitEnds = opts.toolFormat === 'kimi_k2' ? KIMI_OPENERS : [];
      this.reasoning = new ReasoningSplitter({ ...opts.reasoning, implicitEnds }, opts.startInReasoning ?? false);
    }
  }

  /** Events for the prefill text; call once, before the first feed. */
  start(): ParsedEvent[] {
    return this.opts.prefill ? this.afterStop(this.opts.prefill, false) : [];
  }

  feed(text: string): ParsedEvent[] {
    if (this.shouldStop) return [];
    return this.afterStop(this.stop.feed(text), false);
  }

  finish(): ParsedEvent[] {
    return this.limitReached ? [] : this.afterStop(this.stop.finish(), true);
  }

  /** The stop sequence that ended the output, if one did. */
  get stopSequence(): string | undefined {
    return this.stop.stopSequence;
  }

  /** Generation should end now: a stop sequence appeared or the tool-call limit was reached. */
  get shouldStop(): boolean {
    return this.stop.stopSequence !== undefined || this.limitReached;
  }

  get issues(): readonly ParseIssue[] {
    return this.tools?.calls.issues ?? [];
  }

  /** The text so far ends inside reasoning (a <think> opened and not yet closed). */
  get inReasoning(): boolean {
    return this.reasoning?.reasoning ?? false;
  }

  /** Tool calls completed so far. */
  get toolCalls(): number {
    return this.finishedCalls;
  }

  private afterStop(text: string, final: boolean): ParsedEvent[] {
    const pieces: SplitPiece[] = [];
    if (this.reasoning) {
      pieces.push(...this.reasoning.feed(text));
      if (final) pieces.push(...this.reasoning.finish());
    } else if (text.length > 0) pieces.push({ channel: 'content', text });
    const events: ParsedEvent[] = [];
    for (const p of pieces) {
      if (p.channel === 'reasoning') events.push({ type: 'reasoning', text: p.text });
      else if (this.tools) events.push(...this.tools.feed(p.text));
      else events.push({ type: 'text', text: p.text });
    }
    if (final && this.tools) events.push(...this.tools.finish());
    return this.limit(merge(events));
  }

  /** Drops everything after the last allowed call. */
  private limit(events: ParsedEvent[]): ParsedEvent[] {
    const max = this.opts.maxToolCalls;
    const kept: ParsedEvent[] = [];
    for (const e of events) {
      if (this.limitReached) break;
      kept.push(e);
      if (e.type === 'tool_call_end') {
        this.finishedCalls++;
        if (max !== undefined && this.finishedCalls >= max) this.limitReached = true;
      }
    }
    return kept;
  }
}

function merge(events: ParsedEvent[]): ParsedEvent[] {
  const out: ParsedEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last !== undefined && (e.type === 'text' || e.type === 'reasoning') && last.type === e.type) last.text += e.text;
    else if (last !== undefined && e.type === 'tool_call_delta' && last.type === 'tool_call_delta' && last.index === e.index) last.arguments += e.arguments;
    else out.push({ ...e });
  }
  return out;
}

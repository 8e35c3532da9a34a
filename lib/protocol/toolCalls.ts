// Bookkeeping shared by the tool-call parsers: numbering calls, checking names and arguments,
// recording problems. A parser drives it as a call's pieces arrive.
import type { ParsedEvent, ParseIssue, ToolSpec } from './types.js';

export class CallLog {
  readonly issues: ParseIssue[] = [];
  private count = 0;
  private current: { index: number; name: string; args: string } | undefined;

  constructor(private readonly tools: readonly ToolSpec[] | undefined) {}

  get open(): boolean {
    return this.current !== undefined;
  }

  /** Calls started so far. */
  get started(): number {
    return this.count;
  }

  start(id: string, name: string, out: ParsedEvent[]): void {
    const index = this.count++;
    this.current = { index, name, args: '' };
    if (this.tools !== undefined && !this.tools.some((t) => t.name === name)) {
      this.issues.push({ kind: 'unknown_tool', index, message: `tool call ${index} names "${name}", which the request did not declare` });
    }
    out.push({ type: 'tool_call_start', index, id, name });
  }

  args(text: string, out: ParsedEvent[]): void {
    const c = this.current;
    if (c === undefined || text.length === 0) return;
    c.args += text;
    out.push({ type: 'tool_call_delta', index: c.index, arguments: text });
  }

  /** Closes the open call; empty arguments become "{}", anything not a JSON object is reported. */
  end(out: ParsedEvent[]): void {
    const c = this.current;
    if (c === undefined) return;
    if (c.args.trim().length === 0) this.args('{}', out);
    else if (!isJsonObject(c.args)) {
      this.issues.push({ kind: 'invalid_arguments', index: c.index, message: `tool call ${c.index} ("${c.name}") has arguments that are not a JSON object: ${clip(c.args)}` });
    }
    out.push({ type: 'tool_call_end', index: c.index });
    this.current = undefined;
  }

  report(issue: ParseIssue): void {
    this.issues.push(issue);
  }

  /** The index the open call has (or the next call will get). */
  get index(): number {
    return this.current?.index ?? this.count;
  }
}

export function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

export function clip(text: string, n = 80): string {
  const t = JSON.stringify(text);
  return t.length <= n ? t : `${t.slice(0, n)}…`;
}

/** Appends answer text, merging it into a text event just before. */
export function pushText(out: ParsedEvent[], t: string): void {
  if (t.length === 0) return;
  const last = out[out.length - 1];
  if (last?.type === 'text') last.text += t;
  else out.push({ type: 'text', text: t });
}

// What the output parsers make of generated text: answer text, reasoning, and tool calls whose
// arguments arrive in pieces as they are generated. The server turns these into OpenAI chunks or
// Anthropic content blocks; nothing here knows either API.

export type ParsedEvent =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  /** A call begins: its id as the model wrote it (Kimi) or one made up (Hermes), and its function name. */
  | { type: 'tool_call_start'; index: number; id: string; name: string }
  /** The next piece of the call's arguments (JSON text); the pieces joined are the whole arguments. */
  | { type: 'tool_call_delta'; index: number; arguments: string }
  | { type: 'tool_call_end'; index: number };

export type ParseIssueKind =
  /** The arguments of a finished call are not a JSON object. */
  | 'invalid_arguments'
  /** A call names a function that the request did not declare (the call is kept). */
  | 'unknown_tool'
  /** Generation ended inside a call: the call was closed with what had arrived. */
  | 'unterminated_call'
  /** Generation ended inside a tool-call section between calls. */
  | 'unclosed_section'
  /** A call could not be read (no name / unreadable header); its text is reported, not executed. */
  | 'malformed_call'
  /** Text inside a tool-call section outside any call; dropped. */
  | 'stray_text';

export interface ParseIssue {
  kind: ParseIssueKind;
  /** The call it concerns (index of its tool_call_start), when there is one. */
  index?: number;
  message: string;
}

/** The tool-call formats the parsers read. */
export type ToolCallFormat = 'kimi_k2' | 'hermes' | 'qwen3_coder';

/** A declared tool as the parsers need it: its name and (for typed formats) its JSON schema. */
export interface ToolSpec {
  name: string;
  parameters?: unknown;
}

/** An incremental parser of one format: text in, events out. */
export interface StreamParser {
  feed(text: string): ParsedEvent[];
  /** End of generation: release held-back text, close what is open (reporting it). */
  finish(): ParsedEvent[];
}

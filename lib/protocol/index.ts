// lib/protocol: model output text → answer text, reasoning and tool calls, incrementally.
export { forcedCallPrefix, type ForcedCall } from './forcedCall.js';
export { HERMES } from './hermes.js';
export { KIMI, KIMI_OPENERS, kimiFunctionName } from './kimi.js';
export { scanMarkers } from './markerScanner.js';
export { randomCallId, randomId } from './ids.js';
export { OutputParser, type OutputParserOptions } from './outputParser.js';
export { QWEN3_CODER } from './qwen3Coder.js';
export { THINK_TAGS, type ReasoningMarkers } from './reasoning.js';
export { inferReasoning, inferToolFormat, parseToolFormat, promptOpensReasoning, TOOL_CALL_FORMATS, type FormatEvidence } from './select.js';
export { StopMatcher } from './stopStrings.js';
export type { ParsedEvent, ParseIssue, ParseIssueKind, StreamParser, ToolCallFormat, ToolSpec } from './types.js';

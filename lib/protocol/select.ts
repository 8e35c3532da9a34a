// Which tool-call format and reasoning markers a model uses, read from what its chat template
// writes (as mlx-lm's _infer_tool_parser reads the template source) and from its vocabulary.
import { MlxkError } from '../io/errors.js';
import { KIMI } from './kimi.js';
import { THINK_TAGS, type ReasoningMarkers } from './reasoning.js';
import type { ToolCallFormat } from './types.js';

export const TOOL_CALL_FORMATS: readonly ToolCallFormat[] = ['kimi_k2', 'hermes', 'qwen3_coder'];

export interface FormatEvidence {
  /** Chat-template text: its source, or better, its rendering of a conversation with a tool call. */
  template?: string;
  /** Whether the vocabulary has this string as one token. */
  hasToken: (text: string) => boolean;
}

export function inferToolFormat(e: FormatEvidence): ToolCallFormat | undefined {
  const t = e.template ?? '';
  if (t.includes(KIMI.sectionBegin[0]) || e.hasToken(KIMI.sectionBegin[0])) return 'kimi_k2';
  if (/<tool_call>\s*<function=/.test(t)) return 'qwen3_coder';
  if (t.includes('<tool_call>')) return 'hermes';
  return undefined;
}

export function inferReasoning(e: FormatEvidence): ReasoningMarkers | undefined {
  const tokens = e.hasToken(THINK_TAGS.start) && e.hasToken(THINK_TAGS.end);
  return tokens || (e.template ?? '').includes(THINK_TAGS.end) ? THINK_TAGS : undefined;
}

/** The prompt leaves the model inside an open reasoning block (the template pre-filled <think>). */
export function promptOpensReasoning(prompt: string, markers: ReasoningMarkers): boolean {
  const start = prompt.lastIndexOf(markers.start);
  return start >= 0 && start > prompt.lastIndexOf(markers.end);
}

/** A `--tool-parser` value: a format, or "none" for no tool parsing. */
export function parseToolFormat(value: string): ToolCallFormat | null {
  if (value === 'none') return null;
  if ((TOOL_CALL_FORMATS as readonly string[]).includes(value)) return value as ToolCallFormat;
  throw new MlxkError(`tool-call format "${value}" is not known (expected one of: ${TOOL_CALL_FORMATS.join(', ')}, none)`);
}

// tool_choice "required" or a named function, enforced without constrained decoding: the
// assistant turn is pre-filled with the opening of a call in the model's own format, so the model
// can only continue the call (with a name of its choice, or the given one's arguments). The same
// text is fed to the output parser so the call is reported as if generated.
import { KIMI } from './kimi.js';
import type { ReasoningMarkers } from './reasoning.js';
import type { ToolCallFormat } from './types.js';

export interface ForcedCall {
  /** The function to call; undefined: any declared function. */
  name?: string;
  /** Kimi ids count calls across the conversation: the index this call gets. */
  kimiIndex: number;
  /** The prompt ends inside open reasoning, which has to be closed first. */
  closeReasoning?: ReasoningMarkers;
}

export function forcedCallPrefix(format: ToolCallFormat, f: ForcedCall): string {
  const close = f.closeReasoning?.end ?? '';
  switch (format) {
    case 'kimi_k2':
      return `${close}${KIMI.sectionBegin[0]}${KIMI.callBegin}functions.${f.name === undefined ? '' : `${f.name}:${f.kimiIndex}${KIMI.argumentBegin}`}`;
    case 'hermes':
      return `${close}<tool_call>\n{"name": ${f.name === undefined ? '"' : `${JSON.stringify(f.name)}, "arguments": `}`;
    case 'qwen3_coder':
      return `${close}<tool_call>\n<function=${f.name === undefined ? '' : `${f.name}>\n`}`;
  }
}

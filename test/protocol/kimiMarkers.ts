// Kimi-K2's tool-call tokens as tests write model output with them (spelled out from Kimi's
// tokenizer_config.json, not taken from lib/, so the parser is checked against the real names).
export const S = '<|tool_calls_section_begin|>';
export const E = '<|tool_calls_section_end|>';
export const B = '<|tool_call_begin|>';
export const A = '<|tool_call_argument_begin|>';
export const C = '<|tool_call_end|>';

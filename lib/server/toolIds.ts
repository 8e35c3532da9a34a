// Tool-call ids across turns. A client sends the ids we returned back with the tool results, and
// the chat template renders them into the next prompt, so every mapping here round-trips exactly:
// the model sees again the very id it wrote.
import type { ChatMessage, ToolCall } from '../tokenizer/index.js';

// Anthropic ids must match ^[a-zA-Z0-9_-]+$ (the Messages API rejects others when a conversation
// is later sent to it), and Kimi writes "functions.NAME:IDX". Ids that already fit pass as they
// are; others are escaped behind a prefix, byte by byte: "_" + two hex digits.
const PREFIX = 'toolu_mlxk_';
const FITS = /^[a-zA-Z0-9_-]+$/;

export function toAnthropicToolId(raw: string): string {
  if (FITS.test(raw) && !raw.startsWith(PREFIX)) return raw;
  let out = PREFIX;
  for (const byte of new TextEncoder().encode(raw)) {
    const c = String.fromCharCode(byte);
    out += /[a-zA-Z0-9-]/.test(c) ? c : `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function fromAnthropicToolId(id: string): string {
  if (!id.startsWith(PREFIX)) return id;
  const body = id.slice(PREFIX.length);
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '_') {
      bytes.push(body.charCodeAt(i));
      continue;
    }
    const hex = body.slice(i + 1, i + 3);
    if (!/^[0-9a-f]{2}$/.test(hex)) return id;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  try {
    const raw = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    return toAnthropicToolId(raw) === id ? raw : id;
  } catch {
    return id;
  }
}

const KIMI_ID = /^functions\.[^:]+:\d+$/;

/**
 * Kimi ids in a conversation: calls whose ids are not Kimi's "functions.NAME:IDX" (from another
 * model or client) are given one, numbered across the conversation as Kimi numbers its calls, and
 * the tool results that answer them follow. Deterministic, so the same history renders the same
 * prompt (and prefix cache entries stay valid).
 */
export function withKimiToolIds(messages: readonly ChatMessage[]): ChatMessage[] {
  const renamed = new Map<string, string>();
  let index = 0;
  return messages.map((m) => {
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const tool_calls: ToolCall[] = m.tool_calls.map((c) => {
        const i = index++;
        if (c.id !== undefined && KIMI_ID.test(c.id)) return c;
        const id = `functions.${c.function.name}:${i}`;
        if (c.id !== undefined) renamed.set(c.id, id);
        return { ...c, id };
      });
      return { ...m, tool_calls };
    }
    if (m.role === 'tool' && m.tool_call_id !== undefined && renamed.has(m.tool_call_id)) {
      return { ...m, tool_call_id: renamed.get(m.tool_call_id) };
    }
    return m;
  });
}

/** The index Kimi gives the next call: calls so far in the conversation. */
export function nextKimiCallIndex(messages: readonly ChatMessage[]): number {
  return messages.reduce((n, m) => n + (m.role === 'assistant' ? (m.tool_calls?.length ?? 0) : 0), 0);
}

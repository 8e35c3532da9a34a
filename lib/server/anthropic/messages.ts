// Anthropic system + messages → chat-template messages (see Prompt in ../types.ts).
//   text blocks → content (joined by "\n"); thinking → reasoning_content; tool_use → tool_calls;
//   tool_result → one {role: "tool"} message each, in order, before the rest of the user turn.
// Tool ids come back as we sent them (toAnthropicToolId) and are turned back into the model's own.
// Images and documents are refused by name: this server reads text.
import type { ChatMessage, ToolCall } from '../../tokenizer/index.js';
import { invalidRequest } from '../errors.js';
import { at, describe, isObj, object, optBool, reqArray, reqString, toolName, type Obj } from '../fields.js';
import { fromAnthropicToolId } from '../toolIds.js';

function unsupportedBlock(type: string, path: string): never {
  const what = type === 'image' || type === 'document' ? `"${type}" blocks are not supported; this server reads text only` : `"${type}" blocks are not supported here`;
  throw invalidRequest(at(path, 'type'), what);
}

/** Text of a string or a list of text blocks. */
function textOf(v: unknown, path: string): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw invalidRequest(path, `expected a string or a list of text blocks, got ${describe(v)}`);
  return v
    .map((raw, i) => {
      const b = object(raw, at(path, i));
      const type = reqString(b, 'type', at(path, i));
      if (type !== 'text') unsupportedBlock(type, at(path, i));
      return reqString(b, 'text', at(path, i));
    })
    .join('\n');
}

export function systemMessage(b: Obj): ChatMessage[] {
  if (b.system === undefined || b.system === null) return [];
  const content = textOf(b.system, 'system');
  return content.length > 0 ? [{ role: 'system', content }] : [];
}

function blocks(m: Obj, path: string): Obj[] {
  const c = m.content;
  const p = at(path, 'content');
  if (typeof c === 'string') return [{ type: 'text', text: c }];
  if (!Array.isArray(c)) throw invalidRequest(p, `expected a string or a list of content blocks, got ${describe(c)}`);
  return c.map((b, i) => object(b, at(p, i)));
}

function userTurn(m: Obj, path: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  let text: string[] = [];
  const flush = () => {
    if (text.length > 0) out.push({ role: 'user', content: text.join('\n') });
    text = [];
  };
  blocks(m, path).forEach((b, i) => {
    const p = at(at(path, 'content'), i);
    const type = reqString(b, 'type', p);
    if (type === 'text') text.push(reqString(b, 'text', p));
    else if (type === 'tool_result') {
      flush();
      const content = b.content === undefined || b.content === null ? '' : textOf(b.content, at(p, 'content'));
      const failed = optBool(b, 'is_error', p) ?? false;
      // The template has no field for a failed call, so the model reads it in the text.
      out.push({ role: 'tool', tool_call_id: fromAnthropicToolId(reqString(b, 'tool_use_id', p)), content: failed ? `Error: ${content}` : content });
    } else unsupportedBlock(type, p);
  });
  flush();
  return out;
}

function assistantTurn(m: Obj, path: string): ChatMessage {
  const text: string[] = [];
  const thinking: string[] = [];
  const calls: ToolCall[] = [];
  blocks(m, path).forEach((b, i) => {
    const p = at(at(path, 'content'), i);
    const type = reqString(b, 'type', p);
    if (type === 'text') text.push(reqString(b, 'text', p));
    else if (type === 'thinking') thinking.push(reqString(b, 'thinking', p));
    else if (type === 'redacted_thinking') return; // Anthropic's encrypted reasoning: nothing a local model can read.
    else if (type === 'tool_use') {
      if (!isObj(b.input)) throw invalidRequest(at(p, 'input'), `expected an object, got ${describe(b.input)}`);
      calls.push({ id: fromAnthropicToolId(reqString(b, 'id', p)), type: 'function', function: { name: toolName(b.name, at(p, 'name')), arguments: b.input } });
    } else unsupportedBlock(type, p);
  });
  const out: ChatMessage = { role: 'assistant', content: text.join('\n') };
  if (calls.length > 0) out.tool_calls = calls;
  if (thinking.length > 0) out.reasoning_content = thinking.join('\n');
  return out;
}

export interface AnthropicConversation {
  messages: ChatMessage[];
  /** Text of a final assistant message: the reply continues it (Anthropic's pre-fill). */
  prefill?: string;
}

export function anthropicMessages(b: Obj): AnthropicConversation {
  const list = reqArray(b, 'messages', '');
  const messages: ChatMessage[] = systemMessage(b);
  let prefill: string | undefined;
  list.forEach((raw, i) => {
    const p = at('messages', i);
    const m = object(raw, p);
    const role = reqString(m, 'role', p);
    if (role === 'user') messages.push(...userTurn(m, p));
    else if (role === 'assistant') {
      const turn = assistantTurn(m, p);
      if (i === list.length - 1 && turn.tool_calls === undefined) prefill = String(turn.content).trimEnd();
      else messages.push(turn);
    } else throw invalidRequest(at(p, 'role'), `expected "user" or "assistant", got ${JSON.stringify(role)}`);
  });
  return prefill === undefined ? { messages } : { messages, prefill };
}

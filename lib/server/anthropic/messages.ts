// Anthropic system + messages → chat-template messages (see Prompt in ../types.ts).
//   text blocks → content (joined by "\n"); thinking → reasoning_content; tool_use → tool_calls;
//   tool_result → one {role: "tool"} message each, in order, before the rest of the user turn;
//   system messages inside `messages` (Claude Code sends them mid-conversation) → system turns
//   where they occur, so the prompt before them stays the same and the prefix cache keeps it.
// Tool ids come back as we sent them (toAnthropicToolId) and are turned back into the model's own.
// A tool_reference in a tool result (a deferred tool the client has just loaded) becomes that
// tool's definition, written where the reference is: the tool list at the top of the prompt, and
// with it every cached prefix, stays as it was.
// Images and documents are refused by name: this server reads text.
import type { ChatMessage, ToolCall } from '../../tokenizer/index.js';
import { invalidRequest } from '../errors.js';
import { at, describe, isObj, object, optBool, optString, reqArray, reqString, toolName, type Obj } from '../fields.js';
import { fromAnthropicToolId } from '../toolIds.js';
import type { FunctionTool } from '../types.js';
import { carriedReasoning } from '../carriedReasoning.js';

function unsupportedBlock(type: string, path: string): never {
  const what = type === 'image' || type === 'document' ? `"${type}" blocks are not supported; this server reads text only` : `"${type}" blocks are not supported here`;
  throw invalidRequest(at(path, 'type'), what);
}

/** Text of a string or a list of text blocks (and, in tool results, tool_reference blocks). */
function textOf(v: unknown, path: string, tools?: readonly FunctionTool[]): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw invalidRequest(path, `expected a string or a list of text blocks, got ${describe(v)}`);
  return v
    .map((raw, i) => {
      const p = at(path, i);
      const b = object(raw, p);
      const type = reqString(b, 'type', p);
      if (type === 'tool_reference' && tools !== undefined) return toolReference(b, p, tools);
      if (type !== 'text') unsupportedBlock(type, p);
      return reqString(b, 'text', p);
    })
    .join('\n');
}

/** A loaded tool's definition, in the form the chat template declares tools. */
function toolReference(b: Obj, path: string, tools: readonly FunctionTool[]): string {
  const name = reqString(b, 'tool_name', path);
  const t = tools.find((x) => x.name === name);
  if (t === undefined) throw invalidRequest(at(path, 'tool_name'), `"${name}" is not one of the declared tools`);
  const fn = { name: t.name, ...(t.description === undefined ? {} : { description: t.description }), parameters: t.parameters };
  return `Tool ${t.name} is now available: ${JSON.stringify({ type: 'function', function: fn })}`;
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

function userTurn(m: Obj, path: string, tools: readonly FunctionTool[]): ChatMessage[] {
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
      const content = b.content === undefined || b.content === null ? '' : textOf(b.content, at(p, 'content'), tools);
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
    else if (type === 'thinking') {
      // An omitted block (display "omitted") has empty text and carries the reasoning in its signature.
      const text = optString(b, 'thinking', p) ?? '';
      thinking.push(text === '' ? (carriedReasoning(optString(b, 'signature', p) ?? '') ?? '') : text);
    }
    else if (type === 'redacted_thinking') return; // Anthropic's encrypted reasoning: nothing a local model can read.
    else if (type === 'tool_use') {
      if (!isObj(b.input)) throw invalidRequest(at(p, 'input'), `expected an object, got ${describe(b.input)}`);
      calls.push({ id: fromAnthropicToolId(reqString(b, 'id', p)), type: 'function', function: { name: toolName(b.name, at(p, 'name')), arguments: b.input } });
    } else unsupportedBlock(type, p);
  });
  const out: ChatMessage = { role: 'assistant', content: text.join('\n') };
  if (calls.length > 0) out.tool_calls = calls;
  if (thinking.some((t) => t.length > 0)) out.reasoning_content = thinking.join('\n');
  return out;
}

/** Drops reasoning from all but the last `keep` assistant turns that have some (clear_thinking). */
function clearThinking(messages: ChatMessage[], keep: number): void {
  if (keep === Infinity) return;
  let kept = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'assistant' || m.reasoning_content === undefined) continue;
    if (kept < keep) kept++;
    else delete m.reasoning_content;
  }
}

export interface AnthropicConversation {
  messages: ChatMessage[];
  /** Text of a final assistant message: the reply continues it (Anthropic's pre-fill). */
  prefill?: string;
}

/**
 * `tools`: the request's tools, deferred ones included (for tool_reference blocks);
 * `keepThinking`: assistant turns whose reasoning is kept, counted from the end.
 */
export function anthropicMessages(b: Obj, tools: readonly FunctionTool[], keepThinking = Infinity): AnthropicConversation {
  const list = reqArray(b, 'messages', '');
  const messages: ChatMessage[] = systemMessage(b);
  let prefill: string | undefined;
  list.forEach((raw, i) => {
    const p = at('messages', i);
    const m = object(raw, p);
    const role = reqString(m, 'role', p);
    if (role === 'user') messages.push(...userTurn(m, p, tools));
    else if (role === 'assistant') {
      const turn = assistantTurn(m, p);
      if (i === list.length - 1 && turn.tool_calls === undefined) prefill = String(turn.content).trimEnd();
      else messages.push(turn);
    } else if (role === 'system') {
      const content = textOf(m.content, at(p, 'content'));
      if (content.length > 0) messages.push({ role: 'system', content });
    } else throw invalidRequest(at(p, 'role'), `expected "user", "assistant" or "system", got ${JSON.stringify(role)}`);
  });
  clearThinking(messages, keepThinking);
  return prefill === undefined ? { messages } : { messages, prefill };
}

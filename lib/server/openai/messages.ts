// OpenAI chat messages → chat-template messages (see Prompt in ../types.ts). Text parts are joined;
// any other part (image_url, input_audio, file) is refused by name, since this server reads text.
import type { ChatMessage, ToolCall } from '../../tokenizer/index.js';
import { invalidRequest } from '../errors.js';
import { at, describe, isObj, object, optString, reqArray, reqString, toolName, type Obj } from '../fields.js';

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

/** A message's text: a string, or text parts (refusal parts too, for assistants) joined by "\n". */
function text(v: unknown, path: string, allowRefusal: boolean): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw invalidRequest(path, `expected a string or a list of content parts, got ${describe(v)}`);
  return v
    .map((part, i) => {
      const p = object(part, at(path, i));
      const type = reqString(p, 'type', at(path, i));
      if (type === 'text') return reqString(p, 'text', at(path, i));
      if (type === 'refusal' && allowRefusal) return reqString(p, 'refusal', at(path, i));
      throw invalidRequest(at(at(path, i), 'type'), `"${type}" content parts are not supported; this server reads text parts only`);
    })
    .join('\n');
}

function toolCalls(v: unknown[], path: string): ToolCall[] {
  return v.map((raw, i) => {
    const p = at(path, i);
    const c = object(raw, p);
    const type = optString(c, 'type', p) ?? 'function';
    if (type !== 'function') throw invalidRequest(at(p, 'type'), `"${type}" tool calls are not supported; expected "function"`);
    const fp = at(p, 'function');
    const fn = object(c.function, fp);
    const name = toolName(fn.name, at(fp, 'name'));
    return toolCall(reqString(c, 'id', p), name, optString(fn, 'arguments', fp) ?? '{}', at(fp, 'arguments'));
  });
}

/** A call the client sends back: its arguments parsed (an object), and their text as sent. */
export function toolCall(id: string, name: string, argumentsText: string, argumentsPath: string): ToolCall {
  let args: unknown;
  try {
    args = JSON.parse(argumentsText);
  } catch {
    throw invalidRequest(argumentsPath, `is not valid JSON: ${describe(argumentsText)}`);
  }
  if (!isObj(args)) throw invalidRequest(argumentsPath, `must be a JSON object, got ${describe(args)}`);
  // arguments_text: see Prompt in ../types.ts (rendered verbatim for Kimi).
  const fn = { name, arguments: args, arguments_text: argumentsText };
  return { id, type: 'function', function: fn };
}

function message(raw: unknown, path: string): ChatMessage {
  const m: Obj = object(raw, path);
  const role = reqString(m, 'role', path);
  if (!ROLES.includes(role)) {
    const hint = role === 'function' ? ' (legacy function messages: send "tool" messages)' : '';
    throw invalidRequest(at(path, 'role'), `"${role}" is not a role here; expected one of ${ROLES.join(', ')}${hint}`);
  }
  const name = optString(m, 'name', path);
  const named = name === undefined ? {} : { name };
  const contentPath = at(path, 'content');
  switch (role) {
    case 'system':
    case 'developer':
    case 'user': {
      const content = text(m.content, contentPath, false);
      if (content === undefined) throw invalidRequest(contentPath, 'is required');
      return { role: role === 'developer' ? 'system' : role, content, ...named };
    }
    case 'tool': {
      const content = text(m.content, contentPath, false) ?? '';
      return { role: 'tool', tool_call_id: reqString(m, 'tool_call_id', path), content };
    }
    default: {
      if (m.function_call !== undefined && m.function_call !== null) {
        throw invalidRequest(at(path, 'function_call'), 'legacy function calls are not supported; send tool_calls');
      }
      const out: ChatMessage = { role: 'assistant', content: text(m.content, contentPath, true) ?? '', ...named };
      const calls = m.tool_calls === undefined || m.tool_calls === null ? [] : reqArray(m, 'tool_calls', path, false);
      if (calls.length > 0) out.tool_calls = toolCalls(calls, at(path, 'tool_calls'));
      const reasoning = optString(m, 'reasoning_content', path) ?? optString(m, 'reasoning', path);
      if (reasoning !== undefined) out.reasoning_content = reasoning;
      return out;
    }
  }
}

export function chatMessages(b: Obj): ChatMessage[] {
  return reqArray(b, 'messages', '').map((m, i) => message(m, at('messages', i)));
}

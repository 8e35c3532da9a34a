// POST /v1/responses body → GenerationRequest (https://platform.openai.com/docs/api-reference/responses/create).
// Input items become chat-template messages: messages (developer → system), function_call items
// joined to the assistant turn before them as tool_calls, function_call_output → tool messages,
// reasoning items → the next assistant turn's reasoning_content. previous_response_id prepends
// the stored conversation (responseStore.ts). Tools: functions, and functions inside namespace
// tools (named "NAMESPACE.NAME" for the model). Hosted tools (web_search, file_search, …) run on
// OpenAI's servers: they are left out of the prompt, so the model never calls them; forcing one
// is refused. Fields whose meaning cannot be honoured are refused by name; docs/CLIENTS.md lists
// every field and what happens to it.
import type { ChatMessage } from '../../tokenizer/index.js';
import { ApiError, invalidRequest } from '../errors.js';
import { carriedReasoning } from '../carriedReasoning.js';
import { effortOf } from '../effort.js';
import { at, body, describe, isObj, object, optArray, optBool, optNumber, optString, reqString, schema, toolName, type Obj } from '../fields.js';
import type { FunctionTool, GenerationRequest, SamplingParams, ToolChoice } from '../types.js';
import { toolCall } from './messages.js';
import type { ResponseStore } from './responseStore.js';
import type { FunctionToolObject, ResponseEcho } from './responsesWire.js';

/** What a Responses answer needs beyond the common request: the echo, the store, tool namespaces. */
export interface ResponsesExtras {
  echo: ResponseEcho;
  /** History and input, without instructions: what the store keeps, with the output after it. */
  conversation: ChatMessage[];
  store: boolean;
  /** Model-facing names of namespaced functions → their namespace and own name. */
  namespaced: Record<string, { namespace: string; name: string }>;
  /** include: ["reasoning.encrypted_content"]: reasoning items carry it for the next turn. */
  carryReasoning: boolean;
}

/** Tools OpenAI runs itself; this server has none of them. */
const HOSTED_TOOLS = new Set(['web_search', 'web_search_preview', 'web_search_2025_08_26', 'web_search_preview_2025_03_11', 'file_search', 'code_interpreter', 'computer_use_preview', 'computer', 'image_generation', 'mcp', 'local_shell', 'shell', 'apply_patch', 'tool_search']);

const EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;
const SUMMARIES = ['auto', 'concise', 'detailed'] as const;

export function parseResponsesRequest(raw: unknown, store?: ResponseStore): GenerationRequest {
  const b = body(raw);
  rejectUnhonourable(b);
  const { tools, namespaced, echoTools } = responsesTools(b);
  const toolChoice = responsesToolChoice(b, tools);
  const instructions = optString(b, 'instructions', '') ?? null;
  const previous = optString(b, 'previous_response_id', '');
  let history: ChatMessage[] = [];
  if (previous !== undefined) {
    const found = store?.get(previous);
    if (found === undefined) throw new ApiError('invalid_request', `previous_response_id: no response "${previous}" is kept here (responses are kept in memory for ${Math.round((store?.ttlMs ?? 0) / 60000)} minutes, within ${store?.maxBytes ?? 0} bytes, and only with store: true)`, 'previous_response_id');
    history = found;
  }
  const conversation = [...history, ...inputMessages(b.input)];
  const messages: ChatMessage[] = instructions === null || instructions === '' ? conversation : [{ role: 'system', content: instructions }, ...conversation];
  const reasoning = isObj(b.reasoning) ? b.reasoning : {};
  const effort = oneOf(reasoning, 'effort', 'reasoning', EFFORTS);
  const summary = oneOf(reasoning, 'summary', 'reasoning', SUMMARIES) ?? oneOf(reasoning, 'generate_summary', 'reasoning', SUMMARIES);
  const maxTokens = optNumber(b, 'max_output_tokens', '', { integer: true, min: 1 });
  const temperature = optNumber(b, 'temperature', '', { min: 0, max: 2 });
  const topP = optNumber(b, 'top_p', '', { min: 0, max: 1, above: true });
  const sampling: SamplingParams = {};
  if (temperature !== undefined) sampling.temperature = temperature;
  if (topP !== undefined) sampling.topP = topP;
  const parallel = optBool(b, 'parallel_tool_calls', '') ?? true;
  const keep = optBool(b, 'store', '') ?? true;
  const include = (optArray(b, 'include', '') ?? []).map((v, i) => {
    if (typeof v !== 'string') throw invalidRequest(at('include', i), `expected a string, got ${describe(v)}`);
    if (v === 'message.output_text.logprobs') throw invalidRequest(at('include', i), 'log-probabilities are not supported on /v1/responses; use /v1/chat/completions with logprobs');
    return v;
  });
  const text = isObj(b.text) ? b.text : {};
  const echo: ResponseEcho = {
    instructions,
    metadata: metadata(b),
    parallel_tool_calls: parallel,
    temperature: temperature ?? null,
    top_p: topP ?? null,
    tool_choice: typeof toolChoice === 'object' ? { type: 'function', name: toolChoice.name } : toolChoice,
    tools: echoTools,
    max_output_tokens: maxTokens ?? null,
    previous_response_id: previous ?? null,
    reasoning: { effort: effort ?? null, summary: summary ?? null },
    store: keep,
    text: { format: { type: 'text' }, verbosity: oneOf(text, 'verbosity', 'text', ['low', 'medium', 'high'] as const) ?? null },
    truncation: 'disabled',
  };
  const responses: ResponsesExtras = { echo, conversation, store: keep, namespaced, carryReasoning: include.includes('reasoning.encrypted_content') };
  return {
    api: 'openai.responses',
    model: reqString(b, 'model', ''),
    prompt: { kind: 'chat', messages, tools, templateKwargs: {} },
    ...(maxTokens === undefined ? {} : { maxTokens }),
    sampling,
    stop: [],
    stream: optBool(b, 'stream', '') ?? false,
    includeUsage: true,
    toolChoice,
    parallelToolCalls: parallel,
    ...(effort === undefined ? {} : { thinking: effortOf(effort, 'reasoning.effort') }),
    responses,
  };
}

function oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[]): T | undefined {
  const v = optString(o, key, path);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) throw invalidRequest(at(path, key), `expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function metadata(b: Obj): Record<string, string> | null {
  if (b.metadata === undefined || b.metadata === null) return null;
  const m = object(b.metadata, 'metadata');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw invalidRequest(`metadata.${k}`, `expected a string, got ${describe(v)}`);
    out[k] = v;
  }
  return out;
}

/** Refused by name: each would change the answer in a way this server cannot deliver. */
function rejectUnhonourable(b: Obj): void {
  if (b.background === true) throw invalidRequest('background', 'background responses are not supported; stream the response instead');
  if (b.conversation !== undefined && b.conversation !== null) throw invalidRequest('conversation', 'conversations are not kept here; send previous_response_id or the whole input');
  if (b.prompt !== undefined && b.prompt !== null) throw invalidRequest('prompt', 'stored prompt templates are not available here; send instructions and input');
  if (b.truncation !== undefined && b.truncation !== null && b.truncation !== 'disabled') throw invalidRequest('truncation', 'only "disabled" is supported: a prompt longer than the context is refused, not cut');
  const top = optNumber(b, 'top_logprobs', '', { integer: true, min: 0, max: 20 });
  if (top !== undefined && top > 0) throw invalidRequest('top_logprobs', 'log-probabilities are not supported on /v1/responses; use /v1/chat/completions with logprobs');
  if (b.max_tool_calls !== undefined && b.max_tool_calls !== null) throw invalidRequest('max_tool_calls', 'is not supported; set parallel_tool_calls: false for one call per response');
  if (isObj(b.text) && isObj(b.text.format) && b.text.format.type !== 'text') {
    throw invalidRequest('text.format', `"${String(b.text.format.type)}" is not supported: this server has no constrained decoding, so it cannot guarantee the output`);
  }
  if (b.instructions !== undefined && b.instructions !== null && typeof b.instructions !== 'string') throw invalidRequest('instructions', `expected a string, got ${describe(b.instructions)}`);
}

interface ParsedTools {
  tools: FunctionTool[];
  namespaced: ResponsesExtras['namespaced'];
  echoTools: FunctionToolObject[];
}

function responsesTools(b: Obj): ParsedTools {
  const out: ParsedTools = { tools: [], namespaced: {}, echoTools: [] };
  const add = (raw: Obj, path: string, namespace?: string) => {
    const own = toolName(raw.name, at(path, 'name'));
    const name = namespace === undefined ? own : `${namespace}.${own}`;
    if (out.tools.some((t) => t.name === name)) throw invalidRequest(at(path, 'name'), `"${name}" is declared twice`);
    const description = optString(raw, 'description', path);
    const parameters = schema(raw.parameters, at(path, 'parameters'));
    out.tools.push({ name, ...(description === undefined ? {} : { description }), parameters });
    out.echoTools.push({ type: 'function', name, description: description ?? null, parameters, strict: optBool(raw, 'strict', path) ?? false });
    if (namespace !== undefined) out.namespaced[name] = { namespace, name: own };
  };
  (optArray(b, 'tools', '') ?? []).forEach((raw, i) => {
    const p = at('tools', i);
    const t = object(raw, p);
    const type = reqString(t, 'type', p);
    if (type === 'function') add(t, p);
    else if (type === 'namespace') {
      const ns = toolName(t.name, at(p, 'name'));
      (optArray(t, 'tools', p) ?? []).forEach((inner, j) => {
        const ip = at(at(p, 'tools'), j);
        const it = object(inner, ip);
        const innerType = reqString(it, 'type', ip);
        if (innerType !== 'function') throw invalidRequest(at(ip, 'type'), `"${innerType}" tools are not supported here; expected "function"`);
        add(it, ip, ns);
      });
    } else if (type === 'custom') throw invalidRequest(at(p, 'type'), 'custom (free-form) tools are not supported: their input grammar cannot be enforced here; declare a function tool');
    else if (!HOSTED_TOOLS.has(type)) throw invalidRequest(at(p, 'type'), `"${type}" tools are not supported; expected "function" or "namespace"`);
  });
  return out;
}

function responsesToolChoice(b: Obj, tools: readonly FunctionTool[]): ToolChoice {
  const v = b.tool_choice;
  if (v === undefined || v === null) return 'auto';
  let choice: ToolChoice;
  if (typeof v === 'string') {
    if (v !== 'auto' && v !== 'none' && v !== 'required') throw invalidRequest('tool_choice', `expected "auto", "none", "required" or {"type": "function", "name": ...}, got ${describe(v)}`);
    choice = v;
  } else {
    const o = object(v, 'tool_choice');
    const type = reqString(o, 'type', 'tool_choice');
    if (type !== 'function') throw invalidRequest('tool_choice.type', `"${type}" cannot be forced here (hosted and custom tools are not available); expected "function"`);
    const name = reqString(o, 'name', 'tool_choice');
    if (!tools.some((t) => t.name === name)) throw invalidRequest('tool_choice.name', `"${name}" is not one of the declared functions`);
    choice = { name };
  }
  if (choice !== 'auto' && choice !== 'none' && tools.length === 0) throw invalidRequest('tool_choice', 'forces a tool call but no function tools are declared');
  return choice;
}

/** Text of a message's content: a string, or text parts joined by "\n" (other parts are refused). */
function contentText(v: unknown, path: string): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw invalidRequest(path, `expected a string or a list of content parts, got ${describe(v)}`);
  return v
    .map((raw, i) => {
      const p = at(path, i);
      const part = object(raw, p);
      const type = reqString(part, 'type', p);
      if (type === 'input_text' || type === 'output_text') return reqString(part, 'text', p);
      if (type === 'refusal') return reqString(part, 'refusal', p);
      throw invalidRequest(at(p, 'type'), `"${type}" content is not supported; this server reads text only`);
    })
    .join('\n');
}

/** A reasoning item's text: its reasoning_text content, else what its encrypted_content carries, else its summary. */
function reasoningText(item: Obj, path: string): string {
  const content = optArray(item, 'content', path) ?? [];
  const texts = content.map((raw, i) => reqString(object(raw, at(at(path, 'content'), i)), 'text', at(at(path, 'content'), i)));
  if (texts.length > 0) return texts.join('\n');
  const carried = carriedReasoning(optString(item, 'encrypted_content', path) ?? '');
  if (carried !== undefined) return carried;
  return (optArray(item, 'summary', path) ?? []).map((raw, i) => reqString(object(raw, at(at(path, 'summary'), i)), 'text', at(at(path, 'summary'), i))).join('\n');
}

const ROLES = ['user', 'system', 'developer', 'assistant'];

export function inputMessages(input: unknown): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (input === undefined || input === null) throw invalidRequest('input', 'is required');
  if (!Array.isArray(input)) throw invalidRequest('input', `expected a string or a list of items, got ${describe(input)}`);
  const out: ChatMessage[] = [];
  let reasoning: string[] = [];
  /** The assistant turn that function calls join: the last message, when it is the model's. */
  const assistantTurn = (): ChatMessage => {
    const last = out[out.length - 1];
    if (last?.role === 'assistant' && reasoning.length === 0) return last;
    const m: ChatMessage = { role: 'assistant', content: '' };
    takeReasoning(m);
    out.push(m);
    return m;
  };
  const takeReasoning = (m: ChatMessage) => {
    const text = reasoning.filter((r) => r.length > 0).join('\n');
    if (text.length > 0) m.reasoning_content = text;
    reasoning = [];
  };
  input.forEach((raw, i) => {
    const p = at('input', i);
    const item = object(raw, p);
    const type = optString(item, 'type', p) ?? 'message';
    switch (type) {
      case 'message': {
        const role = reqString(item, 'role', p);
        if (!ROLES.includes(role)) throw invalidRequest(at(p, 'role'), `expected one of ${ROLES.join(', ')}, got ${JSON.stringify(role)}`);
        const content = contentText(item.content, at(p, 'content'));
        if (role === 'assistant') {
          const m: ChatMessage = { role: 'assistant', content };
          takeReasoning(m);
          out.push(m);
        } else out.push({ role: role === 'developer' ? 'system' : role, content });
        break;
      }
      case 'reasoning':
        reasoning.push(reasoningText(item, p));
        break;
      case 'function_call': {
        const own = toolName(item.name, at(p, 'name'));
        const ns = optString(item, 'namespace', p);
        const call = toolCall(reqString(item, 'call_id', p), ns === undefined ? own : `${ns}.${own}`, reqString(item, 'arguments', p), at(p, 'arguments'));
        const turn = assistantTurn();
        turn.tool_calls = [...(turn.tool_calls ?? []), call];
        break;
      }
      case 'function_call_output': {
        const output = item.output;
        const content = typeof output === 'string' ? output : contentText(output, at(p, 'output'));
        out.push({ role: 'tool', tool_call_id: reqString(item, 'call_id', p), content });
        break;
      }
      default:
        throw invalidRequest(at(p, 'type'), `"${type}" input items are not supported; expected message, function_call, function_call_output or reasoning`);
    }
  });
  return out;
}

// POST /v1/messages (and /v1/messages/count_tokens) body → GenerationRequest.
// Top-level fields: those read below are honoured; metadata, service_tier, inference_geo, speed
// and cache_control (on any block or tool) change nothing a local server does (this server's
// prompt cache is automatic) and are accepted; fields whose meaning cannot be honoured are
// refused by name (output_config.format, mcp_servers, container, server tools, context edits
// other than clear_thinking); fields this server does not know are ignored, so a client's new
// optional fields (beta headers announce them) do not break it. docs/CLIENTS.md lists them.
import { invalidRequest } from '../errors.js';
import { at, body, describe, isObj, object, optArray, optBool, optNumber, optString, reqString, schema, toolName, type Obj } from '../fields.js';
import type { FunctionTool, GenerationRequest, SamplingParams, ToolChoice } from '../types.js';
import { anthropicMessages } from './messages.js';
import { thinkingConfig, thinkingTurnsToKeep } from './thinking.js';

export const MAX_STOP_SEQUENCES = 16;

/** count_tokens takes the same body without max_tokens and sampling. */
export function parseMessagesRequest(raw: unknown, opts: { countTokens?: boolean } = {}): GenerationRequest {
  const b = body(raw);
  const maxTokens = optNumber(b, 'max_tokens', '', { integer: true, min: 1 });
  if (maxTokens === undefined && !opts.countTokens) throw invalidRequest('max_tokens', 'is required');
  rejectUnhonourable(b);
  const tools = anthropicTools(b);
  const { choice, parallel } = anthropicToolChoice(b, tools);
  const thinking = thinkingConfig(b, maxTokens);
  const conversation = anthropicMessages(b, tools, thinkingTurnsToKeep(b));
  return {
    api: 'anthropic.messages',
    model: reqString(b, 'model', ''),
    prompt: { kind: 'chat', messages: conversation.messages, tools, templateKwargs: {}, ...(conversation.prefill === undefined ? {} : { prefill: conversation.prefill }) },
    ...(maxTokens === undefined ? {} : { maxTokens }),
    sampling: sampling(b),
    stop: stopSequences(b),
    stream: optBool(b, 'stream', '') ?? false,
    includeUsage: true,
    toolChoice: choice,
    parallelToolCalls: parallel,
    ...(thinking === undefined ? {} : { thinking }),
  };
}

function sampling(b: Obj): SamplingParams {
  const s: SamplingParams = {};
  const temperature = optNumber(b, 'temperature', '', { min: 0, max: 1 });
  const topP = optNumber(b, 'top_p', '', { min: 0, max: 1, above: true });
  const topK = optNumber(b, 'top_k', '', { integer: true, min: 0 });
  if (temperature !== undefined) s.temperature = temperature;
  if (topP !== undefined) s.topP = topP;
  if (topK !== undefined) s.topK = topK;
  return s;
}

function stopSequences(b: Obj): string[] {
  const list = optArray(b, 'stop_sequences', '') ?? [];
  if (list.length > MAX_STOP_SEQUENCES) throw invalidRequest('stop_sequences', `at most ${MAX_STOP_SEQUENCES} are allowed, got ${list.length}`);
  return list.map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw invalidRequest(at('stop_sequences', i), `expected a non-empty string, got ${describe(s)}`);
    return s;
  });
}

const FORMAT_REFUSED = 'structured output is not supported: this server has no constrained decoding, so it cannot guarantee the output';

/**
 * Fields whose meaning this server cannot honour: refused, not ignored. Structured output
 * (output_config.format, top level or per turn) needs constrained decoding; MCP servers and
 * code-execution containers are run by Anthropic's servers.
 */
function rejectUnhonourable(b: Obj): void {
  const oc = b.output_config;
  if (isObj(oc) && oc.format !== undefined && oc.format !== null) throw invalidRequest('output_config.format', FORMAT_REFUSED);
  const messages = Array.isArray(b.messages) ? b.messages : [];
  messages.forEach((m: unknown, i) => {
    if (isObj(m) && isObj(m.output_config) && m.output_config.format !== undefined && m.output_config.format !== null) {
      throw invalidRequest(`messages[${i}].output_config.format`, FORMAT_REFUSED);
    }
  });
  if (Array.isArray(b.mcp_servers) && b.mcp_servers.length > 0) throw invalidRequest('mcp_servers', 'remote MCP servers are not available here; run them in the client (as Claude Code does) and send their tools as custom tools');
  if (b.container !== undefined && b.container !== null) throw invalidRequest('container', 'code execution containers are not available on this server');
}

function anthropicTools(b: Obj): FunctionTool[] {
  const names = new Set<string>();
  return (optArray(b, 'tools', '') ?? []).map((raw, i) => {
    const p = at('tools', i);
    const t = object(raw, p);
    const type = optString(t, 'type', p);
    if (type !== undefined && type !== 'custom') throw invalidRequest(at(p, 'type'), `server tool "${type}" is not available on this server; only custom tools (with input_schema) are`);
    const name = toolName(t.name, at(p, 'name'));
    if (names.has(name)) throw invalidRequest(at(p, 'name'), `"${name}" is declared twice`);
    names.add(name);
    if (t.input_schema === undefined) throw invalidRequest(at(p, 'input_schema'), 'is required');
    const description = optString(t, 'description', p);
    // defer_loading: the model sees the tool only once a tool_result references it (messages.ts).
    const deferred = optBool(t, 'defer_loading', p) ?? false;
    return { name, ...(description === undefined ? {} : { description }), parameters: schema(t.input_schema, at(p, 'input_schema')), ...(deferred ? { deferred } : {}) };
  });
}

function anthropicToolChoice(b: Obj, tools: readonly FunctionTool[]): { choice: ToolChoice; parallel: boolean } {
  if (b.tool_choice === undefined || b.tool_choice === null) return { choice: 'auto', parallel: true };
  const tc = object(b.tool_choice, 'tool_choice');
  const type = reqString(tc, 'type', 'tool_choice');
  const parallel = !(optBool(tc, 'disable_parallel_tool_use', 'tool_choice') ?? false);
  let choice: ToolChoice;
  if (type === 'auto') choice = 'auto';
  else if (type === 'none') choice = 'none';
  else if (type === 'any') choice = 'required';
  else if (type === 'tool') {
    const name = reqString(tc, 'name', 'tool_choice');
    if (!tools.some((t) => t.name === name)) throw invalidRequest('tool_choice.name', `"${name}" is not one of the declared tools`);
    choice = { name };
  } else throw invalidRequest('tool_choice.type', `expected "auto", "any", "tool" or "none", got ${JSON.stringify(type)}`);
  if ((choice === 'required' || typeof choice === 'object') && tools.length === 0) throw invalidRequest('tool_choice', 'forces a tool call but no tools are declared');
  return { choice, parallel };
}

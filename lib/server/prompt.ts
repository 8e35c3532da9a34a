// GenerationRequest + the model's tokenizer → prompt token ids and the output parser's settings.
// The model's tool-call format and reasoning markers are read once per model (modelFormat); per
// request this renders the chat template, adds Anthropic pre-fill text and, for a forced tool
// choice, the opening of the call (lib/protocol/forcedCall.ts).
import { forcedCallPrefix } from '../protocol/forcedCall.js';
import type { OutputParserOptions } from '../protocol/outputParser.js';
import type { ReasoningMarkers } from '../protocol/reasoning.js';
import { inferReasoning, inferToolFormat, promptOpensReasoning } from '../protocol/select.js';
import type { ToolCallFormat } from '../protocol/types.js';
import type { ChatMessage, Tokenizer, ToolCall } from '../tokenizer/index.js';
import { ApiError, invalidRequest } from './errors.js';
import { nextKimiCallIndex, withKimiToolIds } from './toolIds.js';
import type { DescribeToken, FunctionTool, GenerationRequest } from './types.js';

export interface ModelFormat {
  tools?: ToolCallFormat;
  reasoning?: ReasoningMarkers;
}

const PROBE_TOOL = { type: 'function', function: { name: 'mlxk_probe', description: 'probe', parameters: { type: 'object', properties: { a: { type: 'integer' } } } } };

/**
 * How the model writes tool calls and reasoning: from its chat template's rendering of a
 * conversation with one call, and its vocabulary. `toolParser` overrides the format (null: none).
 */
export function modelFormat(tok: Tokenizer, toolParser?: ToolCallFormat | null): ModelFormat {
  let probe: string | undefined;
  if (tok.hasChatTemplate) {
    const call: ToolCall = { id: 'functions.mlxk_probe:0', type: 'function', function: { name: 'mlxk_probe', arguments: { a: 1 } } };
    try {
      probe = tok.applyChatTemplate([{ role: 'user', content: 'x' }, { role: 'assistant', content: '', tool_calls: [call] }], { tools: [PROBE_TOOL], addGenerationPrompt: false }).text;
    } catch {
      probe = undefined; // a template that refuses the probe conversation: the vocabulary decides
    }
  }
  const evidence = { template: probe, hasToken: (t: string) => tok.tokenToId(t) !== undefined };
  const tools = toolParser === undefined ? inferToolFormat(evidence) : (toolParser ?? undefined);
  const reasoning = inferReasoning(evidence);
  return { ...(tools === undefined ? {} : { tools }), ...(reasoning === undefined ? {} : { reasoning }) };
}

export interface PreparedPrompt {
  ids: number[];
  /** The prompt as text (for logs and tests). */
  text: string;
  parser: OutputParserOptions;
}

export function preparePrompt(tok: Tokenizer, req: GenerationRequest, format: ModelFormat): PreparedPrompt {
  const p = req.prompt;
  const stop = { stop: req.stop };
  if (p.kind === 'tokens') {
    const bad = p.ids.findIndex((id) => id >= tok.vocabSize);
    if (bad >= 0) throw invalidRequest(`prompt[${bad}]`, `token id ${p.ids[bad]} is outside the vocabulary (size ${tok.vocabSize})`);
    return { ids: p.ids, text: tok.decode(p.ids), parser: stop };
  }
  if (p.kind === 'text') {
    const ids = tok.encode(p.text, { special: true, addSpecial: true });
    if (ids.length === 0) throw invalidRequest('prompt', 'is empty');
    return { ids, text: p.text, parser: stop };
  }

  const tools = req.toolChoice === 'none' ? [] : p.tools;
  const declared = tools.filter((t) => !t.deferred);
  if (tools.length > 0 && format.tools === undefined) {
    throw invalidRequest('tools', "this model's tool-call format is not known (its chat template writes none); start the server with --tool-parser kimi_k2, hermes or qwen3_coder");
  }
  const thinking = req.thinking?.enabled === undefined ? {} : { thinking: req.thinking.enabled, enable_thinking: req.thinking.enabled };
  let rendered;
  try {
    rendered = tok.applyChatTemplate(templateMessages(p.messages, format.tools), {
      tools: declared.length > 0 ? declared.map(templateTool) : undefined,
      addGenerationPrompt: true,
      extra: { ...thinking, ...p.templateKwargs },
    });
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError('invalid_request', `the chat template cannot render these messages: ${(e as Error).message}`, 'messages');
  }
  let text = rendered.text;
  const ids = [...rendered.ids];
  if (ids.length === 0 && !(p.prefill !== undefined && p.prefill.length > 0)) throw new ApiError('invalid_request', "the model's chat template rendered these messages as nothing", 'messages');
  if (p.prefill !== undefined && p.prefill.length > 0) {
    text += p.prefill;
    ids.push(...tok.encode(p.prefill));
  }
  const startInReasoning = format.reasoning !== undefined && promptOpensReasoning(text, format.reasoning);
  const parser: OutputParserOptions = {
    ...stop,
    ...(format.reasoning === undefined ? {} : { reasoning: format.reasoning, startInReasoning }),
    ...(req.parallelToolCalls ? {} : { maxToolCalls: 1 }),
  };
  if (tools.length > 0 && format.tools !== undefined) {
    parser.toolFormat = format.tools;
    parser.tools = tools.map((t) => ({ name: t.name, parameters: t.parameters }));
    if (req.toolChoice !== 'auto') {
      const prefix = forcedCallPrefix(format.tools, {
        ...(typeof req.toolChoice === 'object' ? { name: req.toolChoice.name } : {}),
        kimiIndex: nextKimiCallIndex(p.messages),
        ...(startInReasoning ? { closeReasoning: format.reasoning } : {}),
      });
      text += prefix;
      ids.push(...tok.encode(prefix, { special: true }));
      parser.prefill = prefix;
    }
  }
  return { ids, text, parser };
}

/** OpenAI's tool shape, which chat templates take. */
function templateTool(t: FunctionTool): unknown {
  return { type: 'function', function: { name: t.name, ...(t.description === undefined ? {} : { description: t.description }), parameters: t.parameters } };
}

/**
 * Messages as the template gets them. Kimi's template writes a string `arguments` verbatim, so a
 * call the client sends back with its arguments text renders exactly as the model wrote it (and
 * the prefix cache keeps matching); other templates get the parsed object, as transformers passes it.
 */
function templateMessages(messages: readonly ChatMessage[], format: ToolCallFormat | undefined): ChatMessage[] {
  const kimi = format === 'kimi_k2';
  const list = kimi ? withKimiToolIds(messages) : [...messages];
  return list.map((m) => {
    if (m.tool_calls === undefined) return m;
    const tool_calls = m.tool_calls.map((c) => {
      const { arguments_text: text, ...fn } = c.function as ToolCall['function'] & { arguments_text?: string };
      return { ...c, function: kimi && text !== undefined ? { ...fn, arguments: text } : fn };
    });
    return { ...m, tool_calls };
  });
}

/** Token text for logprobs: its bytes, and those bytes as text (U+FFFD where a character is cut). */
export function tokenDescriber(tok: Tokenizer): DescribeToken {
  const utf8 = new TextDecoder('utf-8');
  return (id) => {
    const bytes = tok.tokenBytes(id);
    return { token: utf8.decode(bytes), bytes: [...bytes] };
  };
}

// POST /v1/chat/completions body → GenerationRequest. Fields that would change the output but
// cannot be honoured are refused with a 400 naming them, never dropped silently.
import { effortOf } from '../effort.js';
import { invalidRequest } from '../errors.js';
import { body, isObj, optBool, optNumber, optString, reqString, stopList, type Obj } from '../fields.js';
import type { GenerationRequest, SamplingParams } from '../types.js';
import { chatMessages } from './messages.js';
import { openaiToolChoice, openaiTools, parallelToolCalls } from './tools.js';

/** Fields whose feature this server does not have; sending them (non-empty) is an error. */
const UNSUPPORTED: Record<string, string> = {
  audio: 'audio output is not supported',
  prediction: 'predicted outputs are not supported',
  web_search_options: 'web search is not supported',
  functions: 'legacy functions are not supported; send tools',
  function_call: 'legacy function_call is not supported; send tool_choice',
};

export const MAX_STOP_SEQUENCES = 16;

export function parseChatRequest(raw: unknown): GenerationRequest {
  const b = body(raw);
  for (const [key, why] of Object.entries(UNSUPPORTED)) {
    if (b[key] !== undefined && b[key] !== null) throw invalidRequest(key, why);
  }
  const modalities = b.modalities;
  if (Array.isArray(modalities) && modalities.some((m) => m !== 'text')) throw invalidRequest('modalities', 'only "text" output is supported');
  rejectResponseFormat(b);
  const n = optNumber(b, 'n', '', { integer: true, min: 1 });
  if (n !== undefined && n > 1) throw invalidRequest('n', `only one choice per request is supported, got ${n}`);

  const tools = openaiTools(b);
  const toolChoice = openaiToolChoice(b, tools);
  const stream = optBool(b, 'stream', '') ?? false;
  const streamOptions = isObj(b.stream_options) ? b.stream_options : {};
  const kwargs = b.chat_template_kwargs ?? {};
  if (!isObj(kwargs)) throw invalidRequest('chat_template_kwargs', 'expected an object of template variables');
  const thinking = reasoningEffort(b);

  return {
    api: 'openai.chat',
    model: reqString(b, 'model', ''),
    prompt: { kind: 'chat', messages: chatMessages(b), tools, templateKwargs: { ...kwargs } },
    ...maxTokens(b),
    sampling: sampling(b),
    stop: stopList(b, 'stop', '', MAX_STOP_SEQUENCES),
    stream,
    includeUsage: stream && (optBool(streamOptions, 'include_usage', 'stream_options') ?? false),
    ...logprobs(b),
    toolChoice,
    parallelToolCalls: parallelToolCalls(b),
    ...(thinking === undefined ? {} : { thinking }),
  };
}

/**
 * response_format json_object / json_schema needs constrained decoding, which the engine does not
 * have: refused with a 400, so a client never gets unchecked text it believes is schema-valid.
 */
function rejectResponseFormat(b: Obj): void {
  const rf = b.response_format;
  if (rf === undefined || rf === null) return;
  if (!isObj(rf)) throw invalidRequest('response_format', 'expected an object such as {"type": "text"}');
  const type = rf.type;
  if (type === 'text') return;
  if (type === 'json_object' || type === 'json_schema') {
    throw invalidRequest('response_format', `"${type}" is not supported: this server has no constrained decoding, so it cannot guarantee the output; ask for JSON in the prompt and validate it yourself`);
  }
  throw invalidRequest('response_format.type', `expected "text", "json_object" or "json_schema", got ${JSON.stringify(type)}`);
}

export function maxTokens(b: Obj): { maxTokens?: number } {
  const v = optNumber(b, 'max_completion_tokens', '', { integer: true, min: 1 }) ?? optNumber(b, 'max_tokens', '', { integer: true, min: 1 });
  return v === undefined ? {} : { maxTokens: v };
}

export function sampling(b: Obj): SamplingParams {
  const s: SamplingParams = {};
  const set = <K extends keyof SamplingParams>(k: K, v: SamplingParams[K] | undefined) => {
    if (v !== undefined) s[k] = v;
  };
  set('temperature', optNumber(b, 'temperature', '', { min: 0, max: 2 }));
  set('topP', optNumber(b, 'top_p', '', { min: 0, max: 1, above: true }));
  set('topK', optNumber(b, 'top_k', '', { integer: true, min: 0 }));
  set('minP', optNumber(b, 'min_p', '', { min: 0, max: 1 }));
  set('seed', optNumber(b, 'seed', '', { integer: true }));
  set('presencePenalty', optNumber(b, 'presence_penalty', '', { min: -2, max: 2 }));
  set('frequencyPenalty', optNumber(b, 'frequency_penalty', '', { min: -2, max: 2 }));
  set('repetitionPenalty', optNumber(b, 'repetition_penalty', '', { min: 0, above: true }));
  const bias = b.logit_bias;
  if (bias !== undefined && bias !== null) {
    if (!isObj(bias)) throw invalidRequest('logit_bias', 'expected an object of token id → bias');
    const out: Record<number, number> = {};
    for (const [k, v] of Object.entries(bias)) {
      if (!/^\d+$/.test(k)) throw invalidRequest(`logit_bias.${k}`, 'keys must be token ids');
      if (typeof v !== 'number' || v < -100 || v > 100) throw invalidRequest(`logit_bias.${k}`, 'expected a number from -100 to 100');
      out[Number(k)] = v;
    }
    if (Object.keys(out).length > 0) s.logitBias = out;
  }
  return s;
}

function logprobs(b: Obj): { logprobs?: { top: number } } {
  const on = optBool(b, 'logprobs', '') ?? false;
  const top = optNumber(b, 'top_logprobs', '', { integer: true, min: 0, max: 20 });
  if (top !== undefined && top > 0 && !on) throw invalidRequest('top_logprobs', 'requires "logprobs": true');
  return on ? { logprobs: { top: top ?? 0 } } : {};
}

/** reasoning_effort "none" turns thinking off; any other effort turns it on with that effort's budget (effort.ts). */
function reasoningEffort(b: Obj): GenerationRequest['thinking'] {
  const effort = optString(b, 'reasoning_effort', '');
  return effort === undefined ? undefined : effortOf(effort, 'reasoning_effort');
}

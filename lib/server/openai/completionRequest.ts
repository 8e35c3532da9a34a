// POST /v1/completions body → GenerationRequest (a raw text or token prompt, no template).
import { invalidRequest } from '../errors.js';
import { body, describe, isObj, optBool, optNumber, reqString, stopList } from '../fields.js';
import type { GenerationRequest, Prompt } from '../types.js';
import { MAX_STOP_SEQUENCES, maxTokens, sampling } from './chatRequest.js';

/** OpenAI's default for /v1/completions when max_tokens is not given. */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

export function parseCompletionRequest(raw: unknown): GenerationRequest {
  const b = body(raw);
  if (optBool(b, 'echo', '')) throw invalidRequest('echo', 'echoing the prompt (and prompt logprobs) is not supported');
  if (b.suffix !== undefined && b.suffix !== null && b.suffix !== '') throw invalidRequest('suffix', 'insertion (suffix) is not supported');
  for (const key of ['n', 'best_of']) {
    const v = optNumber(b, key, '', { integer: true, min: 1 });
    if (v !== undefined && v > 1) throw invalidRequest(key, `only one completion per request is supported, got ${v}`);
  }
  const stream = optBool(b, 'stream', '') ?? false;
  const streamOptions = isObj(b.stream_options) ? b.stream_options : {};
  const top = optNumber(b, 'logprobs', '', { integer: true, min: 0, max: 5 });
  return {
    api: 'openai.completions',
    model: reqString(b, 'model', ''),
    prompt: prompt(b.prompt),
    maxTokens: maxTokens(b).maxTokens ?? COMPLETIONS_DEFAULT_MAX_TOKENS,
    sampling: sampling(b),
    stop: stopList(b, 'stop', '', MAX_STOP_SEQUENCES),
    stream,
    includeUsage: stream && (optBool(streamOptions, 'include_usage', 'stream_options') ?? false),
    ...(top === undefined ? {} : { logprobs: { top } }),
    toolChoice: 'none',
    parallelToolCalls: true,
  };
}

function prompt(v: unknown): Prompt {
  const one = Array.isArray(v) && v.length === 1 && (typeof v[0] === 'string' || Array.isArray(v[0])) ? v[0] : v;
  if (typeof one === 'string') return { kind: 'text', text: one };
  if (Array.isArray(one) && one.length > 0 && one.every((x) => Number.isInteger(x) && x >= 0)) return { kind: 'tokens', ids: one as number[] };
  if (Array.isArray(v) && v.length > 1) throw invalidRequest('prompt', `only one prompt per request is supported, got ${v.length}`);
  if (v === undefined || v === null) throw invalidRequest('prompt', 'is required');
  throw invalidRequest('prompt', `expected a string or a list of token ids, got ${describe(v)}`);
}

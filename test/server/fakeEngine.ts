// An in-process stand-in for the server: a request body goes through the real translation
// (parse → preparePrompt with tiny-kimi's tokenizer and chat template → Turn) and a scripted
// "generation": the text the model is supposed to write, encoded by tiny-kimi's tokenizer with its
// special tokens and decoded id by id, as the engine will do. The official SDKs reach it through a
// custom fetch, so their own request building and response/SSE parsing judge our output.
import type { ParseIssue } from '../../lib/protocol/types.js';
import { parseMessagesRequest } from '../../lib/server/anthropic/messagesRequest.js';
import { countTokensObject } from '../../lib/server/anthropic/writers.js';
import { anthropicError, openaiError } from '../../lib/server/errors.js';
import { parseChatRequest } from '../../lib/server/openai/chatRequest.js';
import { parseCompletionRequest } from '../../lib/server/openai/completionRequest.js';
import { ResponseStore } from '../../lib/server/openai/responseStore.js';
import { parseResponsesRequest } from '../../lib/server/openai/responsesRequest.js';
import { modelFormat, preparePrompt, tokenDescriber, type PreparedPrompt } from '../../lib/server/prompt.js';
import { startTurn } from '../../lib/server/respond.js';
import { keepAliveFrame } from '../../lib/server/sse.js';
import type { GenerationEnd, GenerationRequest, GenerationStep } from '../../lib/server/types.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import { StreamDecoder } from '../../lib/tokenizer/streamDecoder.js';
import { TINY_KIMI } from '../helpers.js';

export const tok = loadTokenizer(TINY_KIMI);
export const format = modelFormat(tok);
/** The fake server's store for previous_response_id. */
export const responseStore = new ResponseStore();

/** Steps for a model output: one per token, with made-up but consistent logprobs (top-1 is the token). */
export function scriptSteps(output: string, decoder = new StreamDecoder(tok)): GenerationStep[] {
  return tok.encode(output, { special: true }).map((id, i) => {
    const logprob = -0.01 * ((i % 7) + 1);
    return { tokenId: id, text: decoder.push(id), logprob, topLogprobs: [{ tokenId: id, logprob }, { tokenId: (id + 1) % 4096, logprob: logprob - 2 }] };
  });
}

export interface Exchange {
  request?: GenerationRequest;
  prepared?: PreparedPrompt;
  /** Steps the engine produced before it ended (stops early when the parser asks). */
  produced: number;
  end?: GenerationEnd;
  /** What the parser flagged in the output. */
  issues?: readonly ParseIssue[];
  body: string;
  status: number;
}

export interface Script {
  /** What the model writes. */
  output: string;
  /** Prompt tokens the prefix cache pretends to have had. */
  cachedTokens?: number;
  /** Throw this instead of answering (errors raised by routing/queueing, e.g. 404/429/413). */
  fail?: unknown;
}

type Api = 'chat' | 'completions' | 'responses' | 'messages' | 'count_tokens';

export function exchange(api: Api, body: unknown, script: Script): Exchange {
  const shape = api === 'messages' || api === 'count_tokens' ? anthropicError : openaiError;
  const ex: Exchange = { produced: 0, body: '', status: 200 };
  try {
    if (script.fail !== undefined) throw script.fail;
    const req =
      api === 'chat' ? parseChatRequest(body) : api === 'completions' ? parseCompletionRequest(body) : api === 'responses' ? parseResponsesRequest(body, responseStore) : parseMessagesRequest(body, { countTokens: api === 'count_tokens' });
    ex.request = req;
    const prepared = preparePrompt(tok, req, format);
    ex.prepared = prepared;
    if (api === 'count_tokens') {
      ex.body = JSON.stringify(countTokensObject(prepared.ids.length));
      return ex;
    }
    let n = 0;
    const turn = startTurn(req, prepared, { describeToken: tokenDescriber(tok), newCallId: () => `call_${n++}`, responseStore });
    const cached = Math.min(script.cachedTokens ?? 0, prepared.ids.length);
    // A long prefill sends keep-alive comments before the first frame; SSE clients skip them.
    const frames = req.stream ? [keepAliveFrame(`prefill 0/${prepared.ids.length}`)] : [];
    frames.push(...turn.begin({ promptTokens: prepared.ids.length, cachedTokens: cached }));
    // Decoded lazily, as the engine does: a cut output leaves the decoder holding what it held then.
    const decoder = new StreamDecoder(tok);
    const ids = tok.encode(script.output, { special: true });
    const all = scriptSteps(script.output);
    let reason: GenerationEnd['reason'] = 'eos';
    for (const [i, id] of ids.entries()) {
      if (req.maxTokens !== undefined && ex.produced >= req.maxTokens) {
        reason = 'length';
        break;
      }
      const s = { ...all[i], text: decoder.push(id) };
      frames.push(...turn.step(s));
      ex.produced++;
      if (turn.shouldStop) {
        reason = 'stopped';
        break;
      }
    }
    ex.end = { reason, usage: { promptTokens: prepared.ids.length, completionTokens: ex.produced, cachedTokens: cached }, text: decoder.flush() };
    frames.push(...turn.end(ex.end));
    ex.issues = turn.issues;
    ex.body = frames.join('');
  } catch (e) {
    const err = shape(e);
    ex.status = err.status;
    ex.body = JSON.stringify(err.body);
  }
  return ex;
}

/** A fetch for the SDKs: routes by path, records each exchange, answers with its body. */
export function fakeFetch(script: () => Script, log: Exchange[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    const body: unknown = JSON.parse(String(init?.body));
    const path = new URL(url).pathname;
    const api: Api = path.endsWith('/chat/completions') ? 'chat' : path.endsWith('/completions') ? 'completions' : path.endsWith('/responses') ? 'responses' : path.endsWith('/count_tokens') ? 'count_tokens' : 'messages';
    const ex = exchange(api, body, script());
    log.push(ex);
    const sse = ex.status === 200 && ex.request?.stream === true && api !== 'count_tokens';
    return new Response(ex.body, { status: ex.status, headers: { 'content-type': sse ? 'text/event-stream' : 'application/json' } });
  }) as typeof fetch;
}

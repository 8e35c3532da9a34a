// The Turn for a request: its output parser and the writer of its API and mode. With this and
// preparePrompt, a route handler is: parse body → resolve model → prepare → run engine → frames.
import { OutputParser } from '../protocol/outputParser.js';
import { MessagesJsonWriter, MessagesStreamWriter } from './anthropic/writers.js';
import { responseMeta } from './ids.js';
import { ChatJsonWriter, ChatStreamWriter } from './openai/chatWriters.js';
import { CompletionJsonWriter, CompletionStreamWriter } from './openai/completionWriters.js';
import type { ResponseStore } from './openai/responseStore.js';
import { ResponsesJsonWriter, ResponsesStreamWriter } from './openai/responsesWriters.js';
import type { PreparedPrompt } from './prompt.js';
import { Turn, type ResponseWriter } from './turn.js';
import type { DescribeToken, GenerationRequest } from './types.js';

export interface TurnOptions {
  /** Token text for logprobs (tokenDescriber of the model's tokenizer). */
  describeToken: DescribeToken;
  /** Made-up tool-call ids (tests pass a counter). */
  newCallId?: () => string;
  now?: number;
  /** Where Responses answers are kept for previous_response_id. */
  responseStore?: ResponseStore;
}

export function startTurn(req: GenerationRequest, prepared: Pick<PreparedPrompt, 'parser'>, opts: TurnOptions): Turn {
  const parser = new OutputParser({ ...prepared.parser, ...(opts.newCallId ? { newCallId: opts.newCallId } : {}) });
  return new Turn(parser, writer(req, opts));
}

function writer(req: GenerationRequest, opts: TurnOptions): ResponseWriter {
  const describe = req.logprobs === undefined ? {} : { describeToken: opts.describeToken };
  switch (req.api) {
    case 'openai.chat': {
      const o = { meta: responseMeta('chatcmpl-', req.model, opts.now), includeUsage: req.includeUsage, ...describe };
      return req.stream ? new ChatStreamWriter(o) : new ChatJsonWriter(o);
    }
    case 'openai.completions': {
      const o = { meta: responseMeta('cmpl-', req.model, opts.now), includeUsage: req.includeUsage, ...describe };
      return req.stream ? new CompletionStreamWriter(o) : new CompletionJsonWriter(o);
    }
    case 'openai.responses': {
      const o = { meta: responseMeta('resp_', req.model, opts.now), extras: req.responses!, ...(opts.responseStore ? { store: opts.responseStore } : {}) };
      return req.stream ? new ResponsesStreamWriter(o) : new ResponsesJsonWriter(o);
    }
    case 'anthropic.messages': {
      const meta = responseMeta('msg_', req.model, opts.now);
      const omit = req.thinking?.omitted ?? false;
      return req.stream ? new MessagesStreamWriter(meta, omit) : new MessagesJsonWriter(meta, omit);
    }
  }
}

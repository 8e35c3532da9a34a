// The Turn for a request: its output parser and the writer of its API and mode. With this and
// preparePrompt, a route handler is: parse body → resolve model → prepare → run engine → frames.
import { OutputParser } from '../protocol/outputParser.js';
import { MessagesJsonWriter, MessagesStreamWriter } from './anthropic/writers.js';
import { responseMeta } from './ids.js';
import { ChatJsonWriter, ChatStreamWriter } from './openai/chatWriters.js';
import { CompletionJsonWriter, CompletionStreamWriter } from './openai/completionWriters.js';
import type { PreparedPrompt } from './prompt.js';
import { Turn, type ResponseWriter } from './turn.js';
import type { DescribeToken, GenerationRequest } from './types.js';

export interface TurnOptions {
  /** Token text for logprobs (tokenDescriber of the model's tokenizer). */
  describeToken: DescribeToken;
  /** Made-up tool-call ids (tests pass a counter). */
  newCallId?: () => string;
  now?: number;
}

export function startTurn(req: GenerationRequest, prepared: PreparedPrompt, opts: TurnOptions): Turn {
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
    case 'anthropic.messages': {
      const meta = responseMeta('msg_', req.model, opts.now);
      return req.stream ? new MessagesStreamWriter(meta) : new MessagesJsonWriter(meta);
    }
  }
}

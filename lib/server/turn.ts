// One response, from engine steps to bytes for the client: the output parser turns each step's
// text into events, a writer turns events into the API's SSE frames (or, at the end, its JSON).
// The route handler only moves steps in and frames out, and stops the engine when asked to.
import type { OutputParser } from '../protocol/outputParser.js';
import type { ParsedEvent } from '../protocol/types.js';
import type { GenerationEnd, GenerationStep, Usage } from './types.js';

export interface Finish {
  reason: 'stop' | 'length' | 'tool_calls';
  /** The stop sequence that ended the output (Anthropic reports it). */
  stopSequence?: string;
}

export interface PromptUsage {
  promptTokens: number;
  cachedTokens: number;
}

export interface ResponseWriter {
  readonly contentType: 'application/json' | 'text/event-stream';
  /** Frames sent before the first token (stream head; events of pre-filled text). */
  begin(events: ParsedEvent[], prompt: PromptUsage): string[];
  step(events: ParsedEvent[], step: GenerationStep): string[];
  /** The last frames, or the whole JSON body of a non-streamed response. */
  end(events: ParsedEvent[], finish: Finish, usage: Usage): string[];
  /** Frames for an error after the stream began, when the API has its own (Responses: response.failed). */
  fail?(message: string): string[];
}

/** Why the output ended, in the terms both APIs use. Calls win over a stop sequence: a client acts on finish_reason tool_calls. */
export function resolveFinish(end: GenerationEnd, parser: Pick<OutputParser, 'stopSequence' | 'toolCalls'>): Finish {
  if (end.reason === 'length') return { reason: 'length' };
  if (parser.toolCalls > 0) return { reason: 'tool_calls' };
  const seq = parser.stopSequence;
  return seq === undefined ? { reason: 'stop' } : { reason: 'stop', stopSequence: seq };
}

export class Turn {
  private reasoningTokens = 0;

  constructor(
    private readonly parser: OutputParser,
    private readonly writer: ResponseWriter,
  ) {}

  get contentType(): ResponseWriter['contentType'] {
    return this.writer.contentType;
  }

  begin(prompt: PromptUsage): string[] {
    return this.writer.begin(this.parser.start(), prompt);
  }

  step(step: GenerationStep): string[] {
    // A token fed while the output is inside reasoning (its closing marker included) is reasoning.
    if (this.parser.inReasoning) this.reasoningTokens++;
    return this.writer.step(this.parser.feed(step.text), step);
  }

  /** The API's own stream frames for a failure, if it has them. */
  fail(message: string): string[] | undefined {
    return this.writer.fail?.(message);
  }

  /** The engine should stop now (a stop sequence, or the tool-call limit). */
  get shouldStop(): boolean {
    return this.parser.shouldStop;
  }

  /** The output so far ends inside the model's reasoning. */
  get inReasoning(): boolean {
    return this.parser.inReasoning;
  }

  /** What the parser found wrong in the output (invalid arguments, unknown tools, …), for the log. */
  get issues(): OutputParser['issues'] {
    return this.parser.issues;
  }

  end(end: GenerationEnd): string[] {
    const events = end.text ? [...this.parser.feed(end.text), ...this.parser.finish()] : this.parser.finish();
    return this.writer.end(events, resolveFinish(end, this.parser), { ...end.usage, reasoningTokens: this.reasoningTokens });
  }
}

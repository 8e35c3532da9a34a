// The contract between the HTTP APIs and the engine. Requests of both APIs are translated into one
// GenerationRequest; the engine answers with one GenerationStep per sampled token and a
// GenerationEnd; the response builders turn those (through lib/protocol's parser) into either
// API's JSON or SSE. Nothing here touches tensors.
import type { ChatMessage } from '../tokenizer/index.js';
import type { ResponsesExtras } from './openai/responsesRequest.js';

/** A function the model may call (OpenAI `function`, Anthropic custom tool). */
export interface FunctionTool {
  name: string;
  description?: string;
  /** JSON schema of the arguments object. */
  parameters: Record<string, unknown>;
  /**
   * Anthropic defer_loading: left out of the prompt's tool list (the client loads it later with
   * a tool_reference, which renders its definition in place); calls to it are still read.
   */
  deferred?: boolean;
}

/**
 * auto: the model decides; none: no tools offered; required: some call is forced; {name}: that
 * function's call is forced (both enforced by pre-filling the call's opening, lib/protocol/forcedCall).
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export interface SamplingParams {
  /** 0 means greedy. Undefined: the engine's default. */
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repetitionPenalty?: number;
  /** token id → bias added to its logit. */
  logitBias?: Record<number, number>;
}

export type Prompt =
  /**
   * Messages in the form lib/tokenizer's chat templates take: roles system / user / assistant /
   * tool; content a string; assistant `tool_calls` as {id, type: "function", function: {name,
   * arguments: object}} (the client's original arguments text, when it sent one, in
   * `function.arguments_text`); tool results as {role: "tool", tool_call_id, content}; earlier
   * reasoning as `reasoning_content`.
   */
  | {
      kind: 'chat';
      messages: ChatMessage[];
      tools: FunctionTool[];
      templateKwargs: Record<string, unknown>;
      /** Anthropic pre-fill: the reply continues this assistant text (which is not sent back). */
      prefill?: string;
    }
  /** Raw text completion (OpenAI /v1/completions). */
  | { kind: 'text'; text: string }
  /** Raw token ids (OpenAI /v1/completions with a token-array prompt). */
  | { kind: 'tokens'; ids: number[] };

export type ApiName = 'openai.chat' | 'openai.completions' | 'openai.responses' | 'anthropic.messages';

export interface GenerationRequest {
  api: ApiName;
  /** The model name the client asked for (the router resolves it, or answers 404). */
  model: string;
  prompt: Prompt;
  /** Undefined: until the context is full. */
  maxTokens?: number;
  sampling: SamplingParams;
  /** Stop sequences (matched in the generated text; never returned). */
  stop: string[];
  stream: boolean;
  /** OpenAI stream_options.include_usage: a usage chunk before [DONE]. */
  includeUsage: boolean;
  /** Return log-probabilities of sampled tokens and the `top` most likely alternatives per step. */
  logprobs?: { top: number };
  toolChoice: ToolChoice;
  /** false: stop after the first tool call. */
  parallelToolCalls: boolean;
  /**
   * Reasoning controls (Anthropic `thinking` / effort, OpenAI reasoning effort). `enabled` reaches
   * the template as `thinking` / `enable_thinking` (undefined: the template's default).
   * budgetTokens caps the reasoning: once spent, the server writes the end-of-reasoning marker.
   * omitted: reasoning is generated but its text not returned (Anthropic display "omitted").
   */
  thinking?: { enabled?: boolean; budgetTokens?: number; omitted?: boolean };
  /** OpenAI Responses: what the response repeats, the conversation to store, tool namespaces. */
  responses?: ResponsesExtras;
}

/** One sampled token, as the engine reports it. An end-of-turn token that stops generation is not a step (its text is not output). */
export interface GenerationStep {
  tokenId: number;
  /** Text this token completes (StreamDecoder.push; '' while a character is incomplete). */
  text: string;
  /** Natural-log probability of tokenId (when the request asked for logprobs). */
  logprob?: number;
  /** The most likely tokens at this step, best first (when asked for). */
  topLogprobs?: { tokenId: number; logprob: number }[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose cache was reused instead of computed. */
  cachedTokens: number;
  /** Completion tokens generated inside the model's reasoning (the Turn counts them). */
  reasoningTokens?: number;
}

export interface GenerationEnd {
  /** eos: an end-of-turn token; length: maxTokens or the context ran out; stopped: the server asked to stop. */
  reason: 'eos' | 'length' | 'stopped';
  usage: Usage;
  /** Text the detokenizer released at the end (StreamDecoder.flush: U+FFFD for a cut character). */
  text?: string;
}

/** Token text for logprobs: the token's string and its raw bytes. */
export type DescribeToken = (id: number) => { token: string; bytes: number[] };

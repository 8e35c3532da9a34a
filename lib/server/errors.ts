// Errors every route can raise, and how each API spells them: OpenAI's
// {error: {message, type, param, code}} and Anthropic's {type: "error", error: {type, message}},
// with the status codes those APIs use. A thrown non-ApiError becomes a 500 of the same shape.

export type ErrorKind = 'invalid_request' | 'authentication' | 'forbidden' | 'not_found' | 'too_large' | 'unsupported_media_type' | 'context_overflow' | 'overloaded' | 'internal';

export interface ContextOverflow {
  promptTokens: number;
  maxTokens: number;
  contextLength: number;
}

export class ApiError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly param: string | null = null,
    readonly overflow?: ContextOverflow,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function invalidRequest(param: string, message: string): ApiError {
  return new ApiError('invalid_request', `${param}: ${message}`, param);
}

export function modelNotFound(model: string, available: readonly string[]): ApiError {
  return new ApiError('not_found', `model "${model}" is not served here (available: ${available.join(', ') || 'none'})`, 'model');
}

export function contextOverflow(o: ContextOverflow): ApiError {
  return new ApiError(
    'context_overflow',
    `This model's maximum context length is ${o.contextLength} tokens. However, you requested ${o.promptTokens + o.maxTokens} tokens (${o.promptTokens} in the messages, ${o.maxTokens} in the completion). Please reduce the length of the messages or completion.`,
    'messages',
    o,
  );
}

export function overloaded(queued: number): ApiError {
  return new ApiError('overloaded', `the server is busy (${queued} requests waiting); retry later`);
}

export interface ErrorResponse<B> {
  status: number;
  body: B;
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const OPENAI: Record<ErrorKind, { status: number; type: string; code: string | null }> = {
  invalid_request: { status: 400, type: 'invalid_request_error', code: null },
  authentication: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  forbidden: { status: 403, type: 'invalid_request_error', code: 'forbidden' },
  not_found: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  too_large: { status: 413, type: 'invalid_request_error', code: 'request_too_large' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', code: 'unsupported_media_type' },
  context_overflow: { status: 413, type: 'invalid_request_error', code: 'context_length_exceeded' },
  overloaded: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  internal: { status: 500, type: 'server_error', code: null },
};

export function openaiError(e: unknown): ErrorResponse<OpenAIErrorBody> {
  const err = asApiError(e);
  const s = OPENAI[err.kind];
  return { status: s.status, body: { error: { message: err.message, type: s.type, param: err.param, code: s.code } } };
}

export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
}

// Context overflow is a 400 with the message Anthropic sends ("prompt is too long: …" when the
// prompt alone does not fit, else "input length and `max_tokens` exceed context limit: …"): Claude
// Code reads those messages to compact the conversation or lower max_tokens.
const ANTHROPIC: Record<ErrorKind, { status: number; type: string }> = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  authentication: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  too_large: { status: 413, type: 'request_too_large' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  context_overflow: { status: 400, type: 'invalid_request_error' },
  overloaded: { status: 529, type: 'overloaded_error' },
  internal: { status: 500, type: 'api_error' },
};

export function anthropicError(e: unknown): ErrorResponse<AnthropicErrorBody> {
  const err = asApiError(e);
  const s = ANTHROPIC[err.kind];
  const o = err.overflow;
  let message = err.message;
  if (o !== undefined) {
    message =
      o.promptTokens >= o.contextLength
        ? `prompt is too long: ${o.promptTokens} tokens > ${o.contextLength} maximum`
        : `input length and \`max_tokens\` exceed context limit: ${o.promptTokens} + ${o.maxTokens} > ${o.contextLength}, decrease input length or \`max_tokens\` and try again`;
  }
  return { status: s.status, body: { type: 'error', error: { type: s.type, message } } };
}

function asApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError('internal', `internal error: ${message}`);
}

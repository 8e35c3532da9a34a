// lib/server: HTTP-API translation (OpenAI chat/completions, Anthropic messages) between request
// bodies, the engine's steps, and response JSON / SSE. No HTTP framework and no tensors here.
export { countTokensObject } from './anthropic/writers.js';
export { parseMessagesRequest } from './anthropic/messagesRequest.js';
export { anthropicError, ApiError, contextOverflow, invalidRequest, modelNotFound, openaiError, overloaded, type ErrorKind } from './errors.js';
export { parseChatRequest } from './openai/chatRequest.js';
export { parseCompletionRequest } from './openai/completionRequest.js';
export { modelFormat, preparePrompt, tokenDescriber, type ModelFormat, type PreparedPrompt } from './prompt.js';
export { startTurn, type TurnOptions } from './respond.js';
export { dataFrame, DONE_FRAME, eventFrame, keepAliveFrame } from './sse.js';
export { fromAnthropicToolId, toAnthropicToolId } from './toolIds.js';
export { resolveFinish, Turn, type Finish, type PromptUsage, type ResponseWriter } from './turn.js';
export type * from './types.js';

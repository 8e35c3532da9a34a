// lib/tokenizer: text ↔ token ids for the models mlxk runs, chat templates and streaming decode.
export { loadTokenizer } from './load.js';
export { StreamDecoder } from './streamDecoder.js';
export type { ChatMessage, ChatTemplateOptions, ContentPart, DecodeOptions, EncodeOptions, RenderedChat, TokenCodec, Tokenizer, ToolCall } from './types.js';

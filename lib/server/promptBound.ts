// A prompt refused by its size before it is tokenized. No token stands for more than
// `maxBytesPerToken` bytes of text, so a text of B bytes has at least ceil(B / maxBytesPerToken)
// tokens; when that alone exceeds the context, tokenizing (seconds for megabytes) is pointless.
import type { ChatMessage, ChatTemplateOptions, EncodeOptions, RenderedChat, Tokenizer } from '../tokenizer/index.js';
import { ApiError } from './errors.js';

/** The fewest tokens a text of this many UTF-8 bytes can be, or 0 when the tokenizer cannot say. */
export function minTokens(tok: Pick<Tokenizer, 'maxBytesPerToken'>, bytes: number): number {
  const per = tok.maxBytesPerToken;
  return per === undefined || per <= 0 ? 0 : Math.ceil(bytes / per);
}

export function tooLongByBytes(bytes: number, atLeast: number, contextLength: number): ApiError {
  return new ApiError(
    'context_overflow',
    `This model's maximum context length is ${contextLength} tokens. However, the prompt (${bytes} bytes) has at least ${atLeast} tokens. Please reduce the length of the messages.`,
    'messages',
    { promptTokens: atLeast, maxTokens: 0, contextLength },
  );
}

/**
 * The tokenizer with every encode (the rendered template, a raw prompt, pre-fill text) checked by
 * size first, counting all text of one prompt together: a prompt that cannot fit `contextLength`
 * tokens is refused before any of it is tokenized.
 */
export function boundedTokenizer(tok: Tokenizer, contextLength: number): Tokenizer {
  let bytes = 0;
  const check = (text: string) => {
    bytes += Buffer.byteLength(text, 'utf8');
    const atLeast = minTokens(tok, bytes);
    if (atLeast > contextLength) throw tooLongByBytes(bytes, atLeast, contextLength);
  };
  const bounded: Tokenizer = Object.create(tok) as Tokenizer;
  return Object.assign(bounded, {
    encode(text: string, opts?: EncodeOptions): number[] {
      check(text);
      return tok.encode(text, opts);
    },
    applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): RenderedChat {
      const text = tok.renderChatTemplate(messages, opts);
      check(text);
      return { text, ids: tok.encode(text, { special: true }) };
    },
  });
}

// The tokenizer interface the engine and server use, whatever the model ships
// (Kimi's tiktoken.model or a Hugging Face tokenizer.json).

export interface EncodeOptions {
  /**
   * Recognize special tokens written in the text (e.g. "<|im_end|>" → its id). Off by default,
   * so user text cannot smuggle control tokens in; chat-template output is encoded with it on.
   */
  special?: boolean;
  /** Wrap the ids as tokenizer.json's post_processor says (e.g. Llama-3's BOS). Kimi adds nothing. */
  addSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave out tokens marked special (tool-call markers of Kimi-K2 are not special, so they stay). */
  skipSpecial?: boolean;
}

/** Text ↔ ids for one vocabulary. */
export interface TokenCodec {
  readonly kind: 'tiktoken' | 'bpe';
  /** One past the largest token id. */
  readonly vocabSize: number;
  /** Ids of tokens marked special. */
  readonly specialIds: ReadonlySet<number>;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  /** The raw bytes a token stands for (special tokens: their UTF-8 text; an id with no token: none, as HF's decode drops it). */
  tokenBytes(id: number): Uint8Array;
  /** The vocabulary string of a token (byte-level characters for BPE tokens), or undefined. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /**
   * No token stands for more bytes of input text than this, so a text of B UTF-8 bytes has at least
   * B / maxBytesPerToken tokens (servers refuse overlong prompts before tokenizing them).
   * Undefined where normalization can shrink text without bound.
   */
  readonly maxBytesPerToken?: number;
}

export interface ToolCall {
  id?: string;
  type?: string;
  function: { name: string; arguments: string | Record<string, unknown> };
  [key: string]: unknown;
}

export interface ContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  reasoning_content?: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** OpenAI-style tool definitions ({type: "function", function: {...}}), passed to the template as `tools`. */
  tools?: unknown[];
  /** End with the assistant header so the model writes the reply. Default true. */
  addGenerationPrompt?: boolean;
  /** Extra template variables (Kimi-K2.5 `thinking`, Qwen3 `enable_thinking`, …); they override defaults. */
  extra?: Record<string, unknown>;
  /** Which of several named templates to use (tokenizer_config.json may hold a list). */
  templateName?: string;
}

export interface RenderedChat {
  text: string;
  ids: number[];
}

export interface Tokenizer extends TokenCodec {
  /** The model directory this was loaded from. */
  readonly dir: string;
  readonly bosId: number | undefined;
  /** Ids that end generation: generation_config.json, config.json and the tokenizer's eos_token. */
  readonly eosIds: readonly number[];
  readonly hasChatTemplate: boolean;
  applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): RenderedChat;
  /** The template's text alone (applyChatTemplate = this + encode with special tokens). */
  renderChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): string;
}

// A model's Tokenizer: its codec (tiktoken or tokenizer.json BPE) plus what the model
// directory says about BOS/EOS and the chat template.
import { MlxkError } from '../io/errors.js';
import type { ChatTemplate } from './chatTemplate.js';
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, RenderedChat, TokenCodec, Tokenizer } from './types.js';

export class ModelTokenizer implements Tokenizer {
  constructor(
    readonly dir: string,
    private readonly codec: TokenCodec,
    readonly bosId: number | undefined,
    readonly eosIds: readonly number[],
    private readonly template: ChatTemplate | undefined,
  ) {}

  get kind(): TokenCodec['kind'] {
    return this.codec.kind;
  }

  get vocabSize(): number {
    return this.codec.vocabSize;
  }

  get maxBytesPerToken(): number | undefined {
    return this.codec.maxBytesPerToken;
  }

  get specialIds(): ReadonlySet<number> {
    return this.codec.specialIds;
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    return this.codec.encode(text, opts);
  }

  decode(ids: readonly number[], opts?: DecodeOptions): string {
    return this.codec.decode(ids, opts);
  }

  tokenBytes(id: number): Uint8Array {
    return this.codec.tokenBytes(id);
  }

  idToToken(id: number): string | undefined {
    return this.codec.idToToken(id);
  }

  tokenToId(token: string): number | undefined {
    return this.codec.tokenToId(token);
  }

  /** The rendered prompt and its ids (special tokens in the rendering are recognized; no BOS is added beyond what the template writes). */
  applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): RenderedChat {
    const text = this.renderChatTemplate(messages, opts);
    return { text, ids: this.codec.encode(text, { special: true }) };
  }

  renderChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): string {
    if (!this.template) {
      throw new MlxkError(`${this.dir}: no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja)`, 'use raw prompts instead');
    }
    return this.template.render(messages, opts);
  }
}

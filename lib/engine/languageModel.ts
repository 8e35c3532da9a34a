// A model with its tokenizer: prompts as text, chat messages or ids in; streamed text
// and ids out. The layer the CLI and the library API use; servers can use it too and
// drive Sequence steps themselves.
import { fileURLToPath } from 'node:url';
import { type BackendName, createOps } from '../backend/index.js';
import type { ActivationBits } from '../backend/native/addon.js';
import { CheckpointError, MlxkError } from '../io/errors.js';
import { loadModel } from '../models/load.js';
import type { CausalLM } from '../models/model.js';
import { loadTokenizer, StreamDecoder } from '../tokenizer/index.js';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from '../tokenizer/index.js';
import { type GenerateOptions, type GenerationResult, generateStream, type TokenEvent } from './generate.js';
import { Sequence } from './sequence.js';

/** The model bundled with mlxk. */
export const BUNDLED_MODEL = fileURLToPath(new URL('../../../models/tiny-kimi', import.meta.url));

/** Special tokens that end a turn in common chat formats, besides the files' eos ids. */
const END_OF_TURN = ['<|im_end|>', '<|eot_id|>', '<|eom_id|>', '<|end_of_text|>', '<|endoftext|>', '<|end|>'];

export type PromptInput =
  /** Text; rendered with the chat template as one user turn unless `raw`. */
  | { prompt: string; system?: string; raw?: boolean }
  /** A conversation rendered with the chat template (tools, thinking flags, … in `template`). */
  | { messages: ChatMessage[]; template?: ChatTemplateOptions }
  /** Token ids as they are. */
  | { ids: readonly number[] };

export interface LoadOptions {
  /** Compute backend; default: MLXK_BACKEND, else native where its kernels are built (mlx on macOS). */
  backend?: BackendName;
  /** native backend: activation precision of quantized products, 8 (default, fastest) or 16. */
  activationBits?: ActivationBits;
}

export class LanguageModel {
  private constructor(
    readonly model: CausalLM,
    readonly dir: string,
    private readonly tok: Tokenizer | null,
    private readonly tokError: MlxkError | null,
    readonly loadSeconds: number,
  ) {}

  /** Loads weights and tokenizer. A directory without tokenizer files still runs on token ids. */
  static async load(path: string = BUNDLED_MODEL, opts: LoadOptions = {}): Promise<LanguageModel> {
    const ops = createOps(opts.backend, opts.activationBits !== undefined ? { activationBits: opts.activationBits } : {});
    const loaded = await loadModel(path, ops);
    let tok: Tokenizer | null = null;
    let tokError: MlxkError | null = null;
    try {
      tok = loadTokenizer(loaded.dir);
      if (tok.vocabSize > loaded.model.info.vocabSize) throw new CheckpointError(loaded.dir, `the tokenizer has ${tok.vocabSize} ids but the embedding (config.json vocab_size) has ${loaded.model.info.vocabSize} rows`);
    } catch (e) {
      if (!(e instanceof MlxkError)) throw e;
      tokError = CheckpointError.wrap(e, loaded.dir) as MlxkError;
    }
    return new LanguageModel(loaded.model, loaded.dir, tok, tokError, loaded.loadSeconds);
  }

  get hasTokenizer(): boolean {
    return this.tok !== null;
  }

  /** The tokenizer; throws the loading error (e.g. missing tokenizer files) when there is none. */
  get tokenizer(): Tokenizer {
    if (!this.tok) throw this.tokError ?? new MlxkError(`${this.dir}: no tokenizer`);
    return this.tok;
  }

  /** Ids that end generation: the model files' EOS ids and end-of-turn special tokens. */
  get stopTokens(): number[] {
    return this.tok ? stopTokenIds(this.tok) : [];
  }

  promptIds(input: PromptInput): number[] {
    if ('ids' in input) return [...input.ids];
    const tok = this.tokenizer;
    if ('messages' in input) return tok.applyChatTemplate(input.messages, input.template).ids;
    if (input.raw) {
      const ids = tok.encode(input.prompt, { addSpecial: true });
      return tok.bosId !== undefined && ids[0] !== tok.bosId ? [tok.bosId, ...ids] : ids;
    }
    const messages: ChatMessage[] = [...(input.system !== undefined ? [{ role: 'system', content: input.system }] : []), { role: 'user', content: input.prompt }];
    return tok.applyChatTemplate(messages).ids;
  }

  newSequence(): Sequence {
    return new Sequence(this.model);
  }

  /**
   * Streams a completion. Pass `sequence` to continue a conversation: its cached tokens
   * that match the start of the new prompt are reused and the rest is recomputed.
   */
  stream(input: PromptInput, opts: GenerateOptions = {}, sequence?: Sequence): AsyncGenerator<TokenEvent, GenerationResult> {
    const ids = this.promptIds(input);
    if (ids.length === 0) throw 'ids' in input ? new MlxkError('the prompt is empty: no ids were given') : new CheckpointError(this.tokenizer.dir, 'the chat template or tokenizer made no tokens of the prompt');
    const seq = sequence ?? this.newSequence();
    const shared = commonPrefix(seq.tokens, ids);
    // Keep at least one prompt token to run, so there are logits to sample from.
    seq.trim(Math.min(shared, ids.length - 1));
    const rest = ids.slice(seq.length);
    return generateStream(seq, rest, {
      ...opts,
      stopTokens: opts.stopTokens ?? this.stopTokens,
      ...(this.tok && !opts.decoder ? { decoder: new StreamDecoder(this.tok, { skipSpecial: true }) } : {}),
    });
  }

  async generate(input: PromptInput, opts: GenerateOptions = {}, onToken?: (e: TokenEvent) => void, sequence?: Sequence): Promise<GenerationResult> {
    const it = this.stream(input, opts, sequence);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      onToken?.(r.value);
    }
  }
}

/** Ids that end generation for a tokenizer: its EOS ids and the end-of-turn special tokens it has. */
export function stopTokenIds(tok: Tokenizer): number[] {
  const ids = new Set(tok.eosIds);
  for (const t of END_OF_TURN) {
    const id = tok.tokenToId(t);
    if (id !== undefined && tok.specialIds.has(id)) ids.add(id);
  }
  return [...ids];
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

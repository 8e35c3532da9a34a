// A Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama-3, Qwen2/Qwen3,
// DeepSeek-V3): added tokens → normalizer → pre-tokenizer → BPE, and the ByteLevel decoder.
import { readFileSync } from 'node:fs';
import { CheckpointError, MlxkError, oneLine } from '../io/errors.js';
import { AddedVocabulary, parseAddedTokens } from './addedTokens.js';
import { byteCharsToBytes } from './byteLevel.js';
import { decodeIds } from './decodeIds.js';
import { BpeModel } from './bpeModel.js';
import { buildNormalizer } from './normalizer.js';
import { buildPostProcessor, type PostProcess } from './postProcessor.js';
import { buildPreTokenizer, type PreTokenize } from './preTokenizer.js';
import { isArray, isBool, isObject, optionalField, type Spec } from './spec.js';
import type { DecodeOptions, EncodeOptions, TokenCodec } from './types.js';

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

function parseMerges(value: unknown, where: string): Array<[string, string]> {
  if (!isArray(value)) throw new MlxkError(`${where} must be an array of "a b" strings or [a, b] pairs`);
  return value.map((m, i) => {
    if (typeof m === 'string') {
      const space = m.indexOf(' ');
      if (space <= 0 || space === m.length - 1 || m.indexOf(' ', space + 1) >= 0) throw new MlxkError(`${where}[${i}] = ${JSON.stringify(m)} is not "left right"`);
      return [m.slice(0, space), m.slice(space + 1)];
    }
    if (isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new MlxkError(`${where}[${i}] = ${JSON.stringify(m)} is not "left right" or [left, right]`);
  });
}

/** The ByteLevel decoder is the only one byte-level BPE needs; others would change decode(). */
function checkDecoder(spec: unknown, where: string): void {
  const ok = isObject(spec) && (spec.type === 'ByteLevel' || (spec.type === 'Sequence' && isArray(spec.decoders) && spec.decoders.length === 1 && isObject(spec.decoders[0]) && spec.decoders[0].type === 'ByteLevel'));
  if (!ok) throw new MlxkError(`${where}: decoder must be ByteLevel for a byte-level BPE tokenizer, got ${JSON.stringify(spec)?.slice(0, 120)}`);
}

export class BpeTokenizer implements TokenCodec {
  readonly kind = 'bpe' as const;
  readonly vocabSize: number;
  readonly specialIds: ReadonlySet<number>;
  private readonly model: BpeModel;
  private readonly added: AddedVocabulary;
  private readonly preTokenize: PreTokenize;
  private readonly postProcess: PostProcess;
  private readonly tokens: Array<string | undefined> = [];
  private readonly ids = new Map<string, number>();
  private readonly bytes: Array<Uint8Array | undefined> = [];
  /** How many times normalization can shrink text in UTF-8 bytes; undefined: without bound. */
  private readonly shrink: number | undefined;
  private longest: number | undefined;

  static fromFile(path: string): BpeTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new CheckpointError(path, `is not readable JSON (${oneLine((e as Error).message)})`);
    }
    if (!isObject(json)) throw new CheckpointError(path, 'must contain a JSON object');
    return new BpeTokenizer(json, path);
  }

  constructor(json: Spec, where: string) {
    const model = json.model;
    if (!isObject(model)) throw new MlxkError(`${where}: "model" must be an object`);
    if (model.type !== undefined && model.type !== 'BPE') throw new MlxkError(`${where}: model.type ${JSON.stringify(model.type)} is not supported (only byte-level BPE)`);
    if (optionalField(model, 'byte_fallback', `${where}: model`, isBool, 'a boolean', false)) throw new MlxkError(`${where}: model.byte_fallback is true (SentencePiece-style BPE), which is not supported`);
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix']) {
      if (model[k] !== undefined && model[k] !== null && model[k] !== '') throw new MlxkError(`${where}: model.${k} ${JSON.stringify(model[k])} is not supported`);
    }
    if (!isObject(model.vocab)) throw new MlxkError(`${where}: model.vocab must be an object of token → id`);
    const vocab = new Map<string, number>(Object.entries(model.vocab) as Array<[string, number]>);
    const pre = buildPreTokenizer(json.pre_tokenizer, `${where}: pre_tokenizer`);
    if (!pre.byteLevel) throw new MlxkError(`${where}: pre_tokenizer has no ByteLevel step, so this is not a byte-level BPE tokenizer`);
    checkDecoder(json.decoder, where);
    const added = parseAddedTokens(json.added_tokens, `${where}: added_tokens`);
    const unk = model.unk_token;
    const unkId = typeof unk === 'string' ? (vocab.get(unk) ?? added.find((t) => t.content === unk)?.id) : undefined;
    this.model = new BpeModel(
      vocab,
      parseMerges(model.merges, `${where}: model.merges`),
      { ignoreMerges: model.ignore_merges === true, unkId, fuseUnk: model.fuse_unk === true },
      where,
    );
    this.preTokenize = pre.run;
    this.postProcess = buildPostProcessor(json.post_processor, `${where}: post_processor`);
    this.added = new AddedVocabulary(added, buildNormalizer(json.normalizer, `${where}: normalizer`));
    this.shrink = normalizerShrink(json.normalizer, json.pre_tokenizer);
    for (const [token, id] of vocab) {
      this.tokens[id] = token;
      this.ids.set(token, id);
    }
    const special = new Set<number>();
    for (const t of added) {
      this.tokens[t.id] = t.content;
      this.ids.set(t.content, t.id);
      if (t.special) special.add(t.id);
    }
    this.specialIds = special;
    this.vocabSize = this.tokens.length;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    for (const chunk of this.added.split(text, opts.special ?? false)) {
      if (typeof chunk === 'number') {
        out.push(chunk);
        continue;
      }
      for (const piece of this.preTokenize([chunk])) for (const id of this.model.tokenize(piece)) out.push(id);
    }
    return opts.addSpecial ? this.postProcess(out) : out;
  }

  get maxBytesPerToken(): number | undefined {
    if (this.shrink === undefined) return undefined;
    if (this.longest === undefined) {
      let n = 1;
      for (let id = 0; id < this.vocabSize; id++) n = Math.max(n, this.tokenBytes(id).length);
      this.longest = n;
    }
    return this.longest * this.shrink;
  }

  tokenBytes(id: number): Uint8Array {
    const cached = this.bytes[id];
    if (cached) return cached;
    const token = this.tokens[id];
    // HF tokenizers' decode drops ids it has no token for.
    if (token === undefined) return EMPTY;
    // HF's ByteLevel decoder, token by token: byte characters map back to bytes; a token with
    // any other character (an added token such as "<|im_start|>" has none) keeps its own UTF-8.
    const b = byteCharsToBytes(token) ?? utf8.encode(token);
    this.bytes[id] = b;
    return b;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return decodeIds(ids, (id) => this.tokenBytes(id), this.specialIds, opts.skipSpecial ?? false);
  }

  idToToken(id: number): string | undefined {
    return this.tokens[id];
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }
}

/**
 * No normalizer shrinks nothing; NFC composes at most three code points into one of no fewer bytes
 * each (Hangul L+V+T: 9 bytes → 3). Other normalizers (Strip, Replace) and a pre-tokenizer that
 * removes what it matches can drop text without bound.
 */
function normalizerShrink(normalizer: unknown, preTokenizer: unknown): number | undefined {
  if (JSON.stringify(preTokenizer ?? null).includes('"Removed"')) return undefined;
  if (normalizer === null || normalizer === undefined) return 1;
  if (isObject(normalizer) && normalizer.type === 'NFC') return 3;
  return undefined;
}

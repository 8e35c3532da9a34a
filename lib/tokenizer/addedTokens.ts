// tokenizer.json "added_tokens": pulled out of the text before normalization and BPE
// (HF tokenizers AddedVocabulary): leftmost-longest match, single_word/lstrip/rstrip rules,
// tokens with normalized=false matched on the raw text, normalized=true ones after normalizing.
import { MlxkError } from '../io/errors.js';
import type { Normalize } from './normalizer.js';
import { field, isArray, isBool, isId, isObject, isString, optionalField } from './spec.js';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

/** A run of text still to be tokenized, or an added token's id. */
export type Chunk = string | number;

// Rust regex \w and \s, as tokenizers' ends_with_word / starts_with_word / space_* helpers use them.
const WORD_AT_END = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const WORD_AT_START = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE = /^\p{White_Space}$/u;

export function parseAddedTokens(value: unknown, where: string): AddedToken[] {
  if (value === undefined || value === null) return [];
  if (!isArray(value)) throw new MlxkError(`${where} must be an array`);
  return value.map((t, i) => {
    const w = `${where}[${i}]`;
    if (!isObject(t)) throw new MlxkError(`${w} must be an object`);
    return {
      id: field(t, 'id', w, isId, 'a token id'),
      content: field(t, 'content', w, isString, 'a string'),
      special: optionalField(t, 'special', w, isBool, 'a boolean', false),
      singleWord: optionalField(t, 'single_word', w, isBool, 'a boolean', false),
      lstrip: optionalField(t, 'lstrip', w, isBool, 'a boolean', false),
      rstrip: optionalField(t, 'rstrip', w, isBool, 'a boolean', false),
      normalized: optionalField(t, 'normalized', w, isBool, 'a boolean', !(t.special ?? false)),
    };
  });
}

/** Finds one group of added tokens (raw-text or normalized-text ones) in a string. */
class TokenMatcher {
  private readonly byContent = new Map<string, AddedToken>();
  private readonly re: RegExp | null;

  constructor(tokens: AddedToken[]) {
    for (const t of tokens) if (t.content.length > 0) this.byContent.set(t.content, t);
    // A JS alternation takes the first alternative that matches at the leftmost position,
    // so longest-first ordering gives aho-corasick's leftmost-longest.
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.re = contents.length === 0 ? null : new RegExp(contents.map((c) => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|'), 'gu');
  }

  split(text: string, onText: (run: string) => void, onToken: (id: number) => void): void {
    if (!this.re) {
      if (text.length > 0) onText(text);
      return;
    }
    this.re.lastIndex = 0;
    let done = 0;
    for (let m = this.re.exec(text); m; m = this.re.exec(text)) {
      const token = this.byContent.get(m[0])!;
      let start = m.index;
      let end = start + m[0].length;
      // Two code units before/after are enough to see one whole code point.
      if (token.singleWord && (WORD_AT_END.test(text.slice(Math.max(0, start - 2), start)) || WORD_AT_START.test(text.slice(end, end + 2)))) continue;
      // White_Space characters are all in the BMP, so one code unit is one character here.
      if (token.lstrip) while (start > done && SPACE.test(text.charAt(start - 1))) start--;
      if (token.rstrip) while (end < text.length && SPACE.test(text.charAt(end))) end++;
      if (start > done) onText(text.slice(done, start));
      onToken(token.id);
      done = end;
      this.re.lastIndex = end;
    }
    if (done < text.length) onText(text.slice(done));
  }
}

export class AddedVocabulary {
  private readonly raw: TokenMatcher;
  private readonly rawNoSpecial: TokenMatcher;
  private readonly normalized: TokenMatcher;
  private readonly normalizedNoSpecial: TokenMatcher;

  constructor(readonly tokens: readonly AddedToken[], private readonly normalize: Normalize | null) {
    const pick = (normalized: boolean, special: boolean) => new TokenMatcher(tokens.filter((t) => t.normalized === normalized && (special || !t.special)));
    this.raw = pick(false, true);
    this.rawNoSpecial = pick(false, false);
    this.normalized = pick(true, true);
    this.normalizedNoSpecial = pick(true, false);
  }

  /**
   * Splits text into added-token ids and normalized text runs. With special=false, special
   * tokens are ordinary text (tokenizers' encode_special_tokens); other added tokens still match.
   */
  split(text: string, special: boolean): Chunk[] {
    const out: Chunk[] = [];
    const onToken = (id: number) => out.push(id);
    const onText = (run: string) => out.push(run);
    const second = special ? this.normalized : this.normalizedNoSpecial;
    const first = special ? this.raw : this.rawNoSpecial;
    first.split(text, (run) => second.split(this.normalize ? this.normalize(run) : run, onText, onToken), onToken);
    return out;
  }
}

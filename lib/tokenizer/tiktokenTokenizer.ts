// Kimi's tokenizer (tokenization_kimi.py TikTokenTokenizer): tiktoken.model ranks are the ids
// 0..N-1, then num_reserved_special_tokens (default 256) special ids named from
// tokenizer_config.json added_tokens_decoder or "<|reserved_token_{id}|>". Encoding runs in the
// `tiktoken` package (Rust tiktoken in WASM), whose regex engine understands the `&&` class
// intersection in Kimi's pat_str. No BOS is added.
import { readFileSync } from 'node:fs';
import { Tiktoken } from 'tiktoken';
import { CheckpointError } from '../io/errors.js';
import { bytesToByteChars } from './byteLevel.js';
import { decodeIds } from './decodeIds.js';
import { kimiChunks } from './kimiChunks.js';
import { backtrackingRisk } from '../io/regexGuard.js';
import { isObject, type Spec } from './spec.js';
import type { DecodeOptions, EncodeOptions, TokenCodec } from './types.js';

/** tokenization_kimi.py's pat_str, used when tokenizer_config.json does not carry one. */
export const KIMI_PAT_STR = [
  '[\\p{Han}]+',
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  '\\p{N}{1,3}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');

const DEFAULT_RESERVED = 256;
/** Kimi reserves 256; every reserved id gets a name and a map entry at load. */
const MAX_RESERVED = 1 << 16;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** The byte strings of a tiktoken.model file, indexed by rank, checked line by line. */
export function readTiktokenRanks(path: string, text: string): Uint8Array[] {
  const ranks: Uint8Array[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const m = /^([A-Za-z0-9+/]*={0,2}) (\d+)$/.exec(line);
    if (!m) throw new CheckpointError(path, `line ${i + 1} is not "<base64 bytes> <rank>": ${JSON.stringify(line.slice(0, 60))}`);
    const rank = Number(m[2]);
    if (ranks[rank] !== undefined) throw new CheckpointError(path, `line ${i + 1}: rank ${rank} appears twice`);
    ranks[rank] = Buffer.from(m[1]!, 'base64');
  });
  for (let r = 0; r < ranks.length; r++) {
    if (ranks[r] === undefined) throw new CheckpointError(path, `rank ${r} is missing (ranks must be 0..${ranks.length - 1}, one per line)`);
  }
  return ranks;
}

export class KimiTiktokenTokenizer implements TokenCodec {
  readonly kind = 'tiktoken' as const;
  readonly vocabSize: number;
  readonly specialIds: ReadonlySet<number>;
  /** Special token text → id, for every id in the reserved range. */
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly enc: Tiktoken;
  private readonly ranks: Uint8Array[];
  private readonly specialNames: string[] = [];
  private tokenIds: Map<string, number> | undefined;
  private longest: number | undefined;

  /** tiktokenPath: tiktoken.model; config: tokenizer_config.json (configPath names it in errors). */
  constructor(tiktokenPath: string, config: Spec, configPath: string) {
    const text = readFileSync(tiktokenPath, 'utf8');
    this.ranks = readTiktokenRanks(tiktokenPath, text);
    const base = this.ranks.length;
    if (config.num_base_tokens !== undefined && config.num_base_tokens !== base) {
      throw new CheckpointError(configPath, `num_base_tokens is ${JSON.stringify(config.num_base_tokens)} but ${tiktokenPath} has ${base} ranks`);
    }
    const reserved = config.num_reserved_special_tokens ?? DEFAULT_RESERVED;
    if (!Number.isInteger(reserved) || (reserved as number) < 0 || (reserved as number) > MAX_RESERVED) {
      throw new CheckpointError(configPath, `num_reserved_special_tokens must be an integer in 0..${MAX_RESERVED}, got ${JSON.stringify(reserved)}`);
    }
    this.vocabSize = base + (reserved as number);
    const decoder = config.added_tokens_decoder ?? {};
    if (!isObject(decoder)) throw new CheckpointError(configPath, 'added_tokens_decoder must be an object of id → token');
    const named = new Map<number, { content: string; special: boolean }>();
    for (const [key, entry] of Object.entries(decoder)) {
      const id = Number(key);
      if (!Number.isInteger(id) || id < base || id >= this.vocabSize) {
        throw new CheckpointError(configPath, `added_tokens_decoder["${key}"] is outside the special id range ${base}..${this.vocabSize - 1}`);
      }
      if (!isObject(entry) || typeof entry.content !== 'string' || entry.content === '') throw new CheckpointError(configPath, `added_tokens_decoder["${key}"].content must be a non-empty string, got ${JSON.stringify(isObject(entry) ? entry.content : entry)}`);
      named.set(id, { content: entry.content, special: entry.special !== false });
    }
    const specials = new Map<string, number>();
    const specialIds = new Set<number>();
    for (let id = base; id < this.vocabSize; id++) {
      const entry = named.get(id);
      const name = entry?.content ?? `<|reserved_token_${id}|>`;
      if (specials.has(name)) throw new CheckpointError(configPath, `special token ${JSON.stringify(name)} is given to both ${specials.get(name)} and ${id}`);
      specials.set(name, id);
      this.specialNames.push(name);
      if (entry?.special !== false) specialIds.add(id);
    }
    this.specialTokens = specials;
    this.specialIds = specialIds;
    const pat = config.pat_str ?? KIMI_PAT_STR;
    if (typeof pat !== 'string' || pat === '') throw new CheckpointError(configPath, `pat_str must be a non-empty string, got ${JSON.stringify(pat)}`);
    const risky = backtrackingRisk(pat);
    if (risky !== undefined) throw new CheckpointError(configPath, `pat_str ${risky}`);
    try {
      this.enc = new Tiktoken(text, Object.fromEntries(specials), pat);
    } catch (e) {
      throw new CheckpointError(tiktokenPath, `tiktoken rejected it with pat_str from ${configPath} (${String((e as Error)?.message ?? e)})`);
    }
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    for (const piece of kimiChunks(text)) {
      const ids = opts.special ? this.enc.encode(piece, 'all') : this.enc.encode_ordinary(piece);
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** tiktoken does not normalize: the longest rank or special token name. */
  get maxBytesPerToken(): number {
    if (this.longest === undefined) {
      let n = 1;
      for (let id = 0; id < this.vocabSize; id++) n = Math.max(n, this.tokenBytes(id).length);
      this.longest = n;
    }
    return this.longest;
  }

  tokenBytes(id: number): Uint8Array {
    if (id >= 0 && id < this.ranks.length) return this.ranks[id]!;
    const name = this.specialNames[id - this.ranks.length];
    return name === undefined ? EMPTY : utf8.encode(name);
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return decodeIds(ids, (id) => this.tokenBytes(id), this.specialIds, opts.skipSpecial ?? false);
  }

  /** Kimi's token strings: GPT-2 byte characters (tokenization_kimi.py builds them with bytes_to_unicode). */
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    return bytesToByteChars(this.tokenBytes(id));
  }

  /** Accepts special tokens by their text too ("<|im_end|>"), whatever bytes they contain. */
  tokenToId(token: string): number | undefined {
    const special = this.specialTokens.get(token);
    if (special !== undefined) return special;
    if (!this.tokenIds) {
      this.tokenIds = new Map();
      for (let id = 0; id < this.vocabSize; id++) this.tokenIds.set(this.idToToken(id)!, id);
    }
    return this.tokenIds.get(token);
  }
}

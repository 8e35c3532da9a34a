// BOS and EOS ids of a model directory. EOS collects every stop id the files name, as
// mlx-lm does: generation_config.json eos_token_id (int or list), config.json eos_token_id,
// and tokenizer_config.json eos_token (tiny-kimi and Kimi chat turns end with <|im_end|>).
import { CheckpointError } from '../io/errors.js';
import { specialTokenText, type Spec } from './spec.js';
import type { TokenCodec } from './types.js';

export interface ModelFile {
  path: string;
  json: Spec;
}

function idsOf(file: ModelFile, key: string, codec: TokenCodec): number[] {
  const v = file.json[key];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (!Number.isInteger(id) || id < 0 || id >= codec.vocabSize) {
      throw new CheckpointError(file.path, `${key} ${JSON.stringify(v)} must be a token id (or list of ids) in 0..${codec.vocabSize - 1}`);
    }
  }
  return list as number[];
}

function tokenId(file: ModelFile, key: string, codec: TokenCodec): number | undefined {
  const text = specialTokenText(file.json[key]);
  if (text === undefined) return undefined;
  const id = codec.tokenToId(text);
  if (id === undefined) throw new CheckpointError(file.path, `${key} ${JSON.stringify(text)} is not a token of this tokenizer`);
  return id;
}

export function eosIds(codec: TokenCodec, tokenizerConfig: ModelFile, generation?: ModelFile, config?: ModelFile): number[] {
  const ids = [...(generation ? idsOf(generation, 'eos_token_id', codec) : []), ...(config ? idsOf(config, 'eos_token_id', codec) : [])];
  const fromTokenizer = tokenId(tokenizerConfig, 'eos_token', codec);
  if (fromTokenizer !== undefined) ids.push(fromTokenizer);
  return [...new Set(ids)];
}

/** The tokenizer's bos_token; only when tokenizer_config.json does not mention one, the config files' bos_token_id. */
export function bosId(codec: TokenCodec, tokenizerConfig: ModelFile, generation?: ModelFile, config?: ModelFile): number | undefined {
  if ('bos_token' in tokenizerConfig.json) return tokenId(tokenizerConfig, 'bos_token', codec);
  for (const f of [generation, config]) {
    const ids = f ? idsOf(f, 'bos_token_id', codec) : [];
    if (ids.length > 0) return ids[0];
  }
  return undefined;
}

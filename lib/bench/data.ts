// Evaluation text → token ids as the reference perplexity defines it: the whole file
// encoded as ordinary text (special-token strings in it stay text), no BOS or EOS.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CheckpointError, MlxkError } from '../io/errors.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface EvalData {
  file: string;
  sha256: string;
  chars: number;
  ids: number[];
}

export function tokenizeFile(file: string, tokenizer: Tokenizer): EvalData {
  if (!existsSync(file)) throw new MlxkError(`--data ${file}: no such file`);
  const bytes = readFileSync(file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CheckpointError(file, 'is not UTF-8 text', 'perplexity reads a plain text file');
  }
  return { file, sha256: createHash('sha256').update(bytes).digest('hex'), chars: [...text].length, ids: tokenizer.encode(text) };
}

// loadTokenizer(dir): picks the tokenizer by the files present (Kimi's tiktoken.model, else a
// Hugging Face tokenizer.json) and adds BOS/EOS and the chat template from the directory.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { BpeTokenizer } from './bpeTokenizer.js';
import { ChatTemplate } from './chatTemplate.js';
import { ModelTokenizer } from './modelTokenizer.js';
import { bosId, eosIds, type ModelFile } from './specialTokenIds.js';
import { KimiTiktokenTokenizer } from './tiktokenTokenizer.js';
import type { TokenCodec, Tokenizer } from './types.js';

function optionalJson(path: string): ModelFile | undefined {
  return existsSync(path) ? { path, json: readJson(path) } : undefined;
}

/** Kimi's own tokenizer code sorts tool definitions before rendering (deep_sort_dict). */
function sortsTools(dir: string): boolean {
  const py = join(dir, 'tokenization_kimi.py');
  return existsSync(py) && readFileSync(py, 'utf8').includes('deep_sort_dict(');
}

export function loadTokenizer(modelDir: string): Tokenizer {
  if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) throw new MlxkError(`${modelDir}: not a model directory`);
  const configPath = join(modelDir, 'tokenizer_config.json');
  const tokenizerConfig = optionalJson(configPath) ?? { path: configPath, json: {} };
  const tiktokenPath = join(modelDir, 'tiktoken.model');
  const jsonPath = join(modelDir, 'tokenizer.json');
  let codec: TokenCodec;
  if (existsSync(tiktokenPath)) codec = new KimiTiktokenTokenizer(tiktokenPath, tokenizerConfig.json, configPath);
  else if (existsSync(jsonPath)) codec = BpeTokenizer.fromFile(jsonPath);
  else throw new MlxkError(`${modelDir}: no tokenizer (expected tiktoken.model or tokenizer.json)`);
  const generation = optionalJson(join(modelDir, 'generation_config.json'));
  const config = optionalJson(join(modelDir, 'config.json'));
  const template = ChatTemplate.load(modelDir, tokenizerConfig.json, configPath, { sortTools: sortsTools(modelDir) });
  return new ModelTokenizer(
    modelDir,
    codec,
    bosId(codec, tokenizerConfig, generation, config),
    eosIds(codec, tokenizerConfig, generation, config),
    template,
  );
}

// What a MODEL argument may be: a directory, a Hugging Face cache id
// (ORG/NAME), a config.json file, or the name of a shipped config.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonObject, readJson, resolveModelPath } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';
import { knownConfigPath, knownModelNames } from '../models/known.js';

export interface ModelConfigArg {
  config: JsonObject;
  /** Where the config came from, for messages and reports. */
  origin: string;
  /** The model directory when the argument named one. */
  dir: string | null;
}

export function resolveConfigArg(arg: string): ModelConfigArg {
  if (existsSync(arg) && statSync(arg).isFile()) return { config: readJson(arg), origin: arg, dir: null };
  const known = knownConfigPath(arg);
  if (known && !existsSync(arg)) return { config: readJson(known), origin: `configs/${arg.toLowerCase()}.json`, dir: null };
  let dir: string;
  try {
    dir = resolveModelPath(arg);
  } catch (e) {
    if (e instanceof MlxkError) throw new MlxkError(e.message, `${e.hint ? `${e.hint}; ` : ''}names that work offline: ${knownModelNames().join(', ')}`);
    throw e;
  }
  const cfg = join(dir, 'config.json');
  if (!existsSync(cfg)) throw new MlxkError(`${dir}: has no config.json`);
  return { config: readJson(cfg), origin: cfg, dir };
}

// The non-weight files of a converted checkpoint: config.json in mlx-lm's form
// (mlx_lm/utils.py save_config: quantization and an identical
// quantization_config, sorted keys, indent 4), tokenizer/generation files and
// remote-code .py files copied from the source, and a short model card.
import { copyFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/safetensorsWriter.js';
import { DONE_FILE } from './finished.js';

const COPY_NAMES = new Set([
  'tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'tiktoken.model', 'special_tokens_map.json', 'added_tokens.json',
  'vocab.json', 'merges.txt', 'generation_config.json', 'chat_template.jinja', 'chat_template.json', 'preprocessor_config.json',
]);

export function isCopiedFile(name: string): boolean {
  return COPY_NAMES.has(name) || name.endsWith('.py') || name.endsWith('.tiktoken');
}

export function copyModelFiles(src: string, dst: string): string[] {
  const copied: string[] = [];
  for (const name of readdirSync(src).sort()) {
    if (!isCopiedFile(name)) continue;
    const tmp = join(dst, `${name}.partial`);
    copyFileSync(join(src, name), tmp);
    renameSync(tmp, join(dst, name));
    copied.push(name);
  }
  return copied;
}

function sortKeys(obj: JsonObject): JsonObject {
  return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
}

/** The source config with the source's own quantization block replaced by ours. */
export function outputConfig(source: JsonObject, quantization: Record<string, unknown>): JsonObject {
  const cfg: JsonObject = { ...source };
  delete cfg._name_or_path;
  delete cfg.quantization_config;
  delete cfg.quantization;
  if (cfg.text_config && typeof cfg.text_config === 'object') {
    const text = { ...(cfg.text_config as JsonObject) };
    delete text.quantization_config;
    cfg.text_config = text;
  }
  if (Object.keys(quantization).length > 0) {
    cfg.quantization = quantization;
    cfg.quantization_config = quantization;
  }
  return sortKeys(cfg);
}

export function writeConfig(dst: string, config: JsonObject): void {
  writeFileAtomic(join(dst, 'config.json'), `${JSON.stringify(config, null, 4)}\n`);
}

export function writeModelCard(dst: string, info: { source: string; preset: string; bitsPerWeight: number; params: number; bytes: number; notes?: string[] | undefined }): void {
  const text = [
    '---',
    'library_name: mlx',
    'tags: [mlx, mlxk]',
    '---',
    '',
    `Converted to MLX format by mlxk from \`${info.source}\` with preset \`${info.preset}\`.`,
    '',
    `- parameters: ${info.params.toLocaleString('en-US')}`,
    `- size: ${info.bytes >= 1e9 ? `${(info.bytes / 1e9).toFixed(2)} GB` : `${(info.bytes / 1e6).toFixed(1)} MB`} of tensors`,
    `- bits per weight: ${info.bitsPerWeight.toFixed(3)}`,
    ...(info.notes ?? []).map((n) => `- ${n}`),
    '',
    'Loads in mlx-lm, LM Studio and mlxk.',
    '',
  ].join('\n');
  writeFileAtomic(join(dst, 'README.md'), text);
}

/** Remove what a conversion writes (used by --force), leaving unrelated files alone. */
export function clearConversionFiles(dst: string): void {
  for (const name of readdirSync(dst)) {
    if (name.endsWith('.safetensors') || name.endsWith('.partial') || name === 'model.safetensors.index.json' || name === 'config.json' || name === STATE_FILE || name === DONE_FILE || isCopiedFile(name) || name === 'README.md') {
      rmSync(join(dst, name), { force: true });
    }
  }
}

/** Present only while a conversion is unfinished; it makes a re-run resume. */
export const STATE_FILE = '.mlxk-convert.json';

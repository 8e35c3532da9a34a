// Model names that resolve to a config shipped in configs/, so planning needs
// no download: `mlxk plan kimi-k2.5`.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONFIGS_DIR = fileURLToPath(new URL('../../../configs/', import.meta.url));

const ALIASES: Record<string, string> = {
  'moonshotai/kimi-k2.5': 'kimi-k2.5',
  'kimi-k2-5': 'kimi-k2.5',
  'moonshotai/kimi-k2-instruct': 'kimi-k2-instruct',
  'kimi-k2': 'kimi-k2-instruct',
  'deepseek-ai/deepseek-v3': 'deepseek-v3',
  'qwen/qwen3-235b-a22b': 'qwen3-235b-a22b',
};

export function knownModelNames(): string[] {
  return readdirSync(CONFIGS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}

/** Path of the shipped config.json for a known name, or null. */
export function knownConfigPath(name: string): string | null {
  const key = name.toLowerCase();
  const file = join(CONFIGS_DIR, `${ALIASES[key] ?? key}.json`);
  return existsSync(file) ? file : null;
}

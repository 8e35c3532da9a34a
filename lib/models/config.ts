// Typed reads of config.json fields with errors that name the field and value.
import type { JsonObject } from '../io/checkpoint.js';
import { MlxkError } from '../io/errors.js';

export class ConfigReader {
  constructor(readonly cfg: JsonObject, readonly where: string) {}

  has(key: string): boolean {
    return this.cfg[key] !== undefined && this.cfg[key] !== null;
  }

  int(key: string, fallback?: number): number {
    const v = this.cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new MlxkError(`${this.where}: missing "${key}" (expected a positive integer)`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new MlxkError(`${this.where}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }

  optInt(key: string): number | null {
    return this.has(key) ? this.int(key) : null;
  }

  num(key: string, fallback?: number): number {
    const v = this.cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new MlxkError(`${this.where}: missing "${key}" (expected a number)`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new MlxkError(`${this.where}: "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.cfg[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw new MlxkError(`${this.where}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string, fallback?: string): string {
    const v = this.cfg[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new MlxkError(`${this.where}: missing "${key}" (expected a string)`);
    }
    if (typeof v !== 'string') throw new MlxkError(`${this.where}: "${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  intList(key: string): number[] {
    const v = this.cfg[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) throw new MlxkError(`${this.where}: "${key}" must be a list of integers, got ${JSON.stringify(v)}`);
    return v as number[];
  }

  object(key: string): JsonObject | null {
    const v = this.cfg[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) throw new MlxkError(`${this.where}: "${key}" must be an object`);
    return v as JsonObject;
  }
}

/** The float dtype a model's weights are stored in (torch_dtype, dtype, text_config.dtype). */
export function modelDtype(cfg: JsonObject): 'BF16' | 'F16' | 'F32' {
  const text = (cfg.text_config ?? {}) as JsonObject;
  const v = cfg.torch_dtype ?? cfg.dtype ?? text.torch_dtype ?? text.dtype ?? 'bfloat16';
  switch (v) {
    case 'bfloat16':
      return 'BF16';
    case 'float16':
      return 'F16';
    case 'float32':
      return 'F32';
    default:
      throw new MlxkError(`config.json: unsupported torch_dtype ${JSON.stringify(v)} (expected bfloat16, float16 or float32)`);
  }
}

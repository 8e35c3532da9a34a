// Typed access to tokenizer.json / tokenizer_config.json values, with errors that name the field.
import { MlxkError } from '../io/errors.js';

export type Spec = Record<string, unknown>;

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
export const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
export const isObject = (v: unknown): v is Spec => v !== null && typeof v === 'object' && !Array.isArray(v);

export function field<T>(spec: Spec, name: string, where: string, check: (v: unknown) => v is T, expected: string): T {
  const v = spec[name];
  if (!check(v)) throw new MlxkError(`${where}.${name} must be ${expected}, got ${JSON.stringify(v)}`);
  return v;
}

/** Like field(), but a missing or null value gives `fallback`. */
export function optionalField<T>(spec: Spec, name: string, where: string, check: (v: unknown) => v is T, expected: string, fallback: T): T {
  const v = spec[name];
  return v === undefined || v === null ? fallback : field(spec, name, where, check, expected);
}

/** A special token entry of tokenizer_config.json: "text", {"content": "text"} or null. */
export function specialTokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

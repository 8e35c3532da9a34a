// Reading a JSON request body field by field. Every error names the field by its path
// ("messages[2].content[0].type") and says what was expected; null counts as absent, as the
// official SDKs send null for unset optional fields.
import { ApiError, invalidRequest } from './errors.js';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function at(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

export function body(v: unknown): Obj {
  if (!isObj(v)) throw new ApiError('invalid_request', `the request body must be a JSON object, not ${describe(v)}`);
  return v;
}

export function object(v: unknown, path: string): Obj {
  if (!isObj(v)) throw invalidRequest(path, `expected an object, got ${describe(v)}`);
  return v;
}

export function optString(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidRequest(at(path, key), `expected a string, got ${describe(v)}`);
  return v;
}

export function reqString(o: Obj, key: string, path: string): string {
  const v = optString(o, key, path);
  if (v === undefined) throw invalidRequest(at(path, key), 'is required');
  return v;
}

export interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
  /** min is exclusive. */
  above?: boolean;
}

export function optNumber(o: Obj, key: string, path: string, rule: NumberRule = {}): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const p = at(path, key);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidRequest(p, `expected a number, got ${describe(v)}`);
  if (rule.integer && !Number.isInteger(v)) throw invalidRequest(p, `expected an integer, got ${v}`);
  if (rule.min !== undefined && (rule.above ? v <= rule.min : v < rule.min)) throw invalidRequest(p, `must be ${rule.above ? 'greater than' : 'at least'} ${rule.min}, got ${v}`);
  if (rule.max !== undefined && v > rule.max) throw invalidRequest(p, `must be at most ${rule.max}, got ${v}`);
  return v;
}

export function optBool(o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidRequest(at(path, key), `expected true or false, got ${describe(v)}`);
  return v;
}

export function optArray(o: Obj, key: string, path: string): unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalidRequest(at(path, key), `expected an array, got ${describe(v)}`);
  return v;
}

export function reqArray(o: Obj, key: string, path: string, nonEmpty = true): unknown[] {
  const v = optArray(o, key, path);
  if (v === undefined) throw invalidRequest(at(path, key), 'is required');
  if (nonEmpty && v.length === 0) throw invalidRequest(at(path, key), 'must not be empty');
  return v;
}

/** Stop sequences: a string or a list of non-empty strings. */
export function stopList(o: Obj, key: string, path: string, max: number): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  const p = at(path, key);
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw invalidRequest(p, `expected a string or a list of strings, got ${describe(v)}`);
  if (list.length > max) throw invalidRequest(p, `at most ${max} stop sequences are allowed, got ${list.length}`);
  return list.map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw invalidRequest(typeof v === 'string' ? p : at(p, i), `expected a non-empty string, got ${describe(s)}`);
    return s;
  });
}

/** A tool's JSON schema: an object (or absent: no parameters). */
export function schema(v: unknown, path: string): Record<string, unknown> {
  if (v === undefined || v === null) return { type: 'object', properties: {} };
  if (!isObj(v)) throw invalidRequest(path, `expected a JSON schema object, got ${describe(v)}`);
  return v;
}

/** Tool names as both APIs restrict them. */
export function toolName(v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^[a-zA-Z0-9_.:-]{1,128}$/.test(v)) {
    throw invalidRequest(path, `expected a tool name of 1-128 letters, digits, "_", "-", "." or ":", got ${describe(v)}`);
  }
  return v;
}

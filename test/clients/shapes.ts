// What a client sent, reduced to its shape so that a new client version shows up as a diff in
// test/fixtures/clients/*.json and nothing secret or machine-specific is kept: per route, the
// header names (values only for protocol headers) and the body's structure (keys, value types,
// the values of enumerations such as type/role/effort, tool names), merged over all requests.
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { REPO } from '../helpers.js';
import type { Recorded } from './harness.js';

/** Keys whose string values are protocol vocabulary (kept), not content. */
const ENUM_KEYS = new Set(['type', 'role', 'display', 'effort', 'summary', 'keep', 'tool_choice', 'truncation', 'verbosity', 'phase', 'status']);
/** Objects whose insides are the client's content (schemas, arguments, ids): only "object" is kept. */
const OPAQUE_KEYS = new Set(['input_schema', 'parameters', 'input', 'metadata', 'client_metadata', 'providerOptions']);
/** Headers whose values are protocol, not identity. */
const HEADER_VALUES = new Set(['accept', 'content-type', 'anthropic-version', 'anthropic-beta', 'anthropic-dangerous-direct-browser-access', 'x-app', 'x-stainless-lang', 'originator', 'x-codex-beta-features', 'openai-beta']);

export type Shape = string | Shape[] | { [key: string]: Shape } | { oneOf: Shape[] };

function isUnion(s: Shape): s is { oneOf: Shape[] } {
  return typeof s === 'object' && !Array.isArray(s) && Array.isArray((s as { oneOf?: unknown }).oneOf) && Object.keys(s).length === 1;
}

export function shapeOf(v: unknown, key = '', parent = ''): Shape {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return ENUM_KEYS.has(key) || (key === 'name' && (parent === 'tools' || parent === 'function')) || (key === 'tool_name') || parent === 'include' ? JSON.stringify(v) : 'string';
  if (Array.isArray(v)) return v.length === 0 ? [] : [v.map((x) => shapeOf(x, '', key)).reduce(merge)];
  if (typeof v === 'object') {
    // A tool call's `input` is content; the top-level `input` of /v1/responses is the item list.
    if (OPAQUE_KEYS.has(key) && !(key === 'input' && parent === '')) return 'object';
    const out: Record<string, Shape> = {};
    for (const k of Object.keys(v).sort()) out[k] = shapeOf((v as Record<string, unknown>)[k], k, key === '' ? parent : key);
    return out;
  }
  return typeof v;
}

/** Two shapes as one: objects key by key (a key missing on one side is marked "?"), else a union. */
export function merge(a: Shape, b: Shape): Shape {
  if (JSON.stringify(a) === JSON.stringify(b)) return a;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === 0 ? b : b.length === 0 ? a : [merge(a[0]!, b[0]!)];
  const plain = (s: Shape) => typeof s === 'object' && !Array.isArray(s) && !isUnion(s);
  if (plain(a) && plain(b)) {
    const ao = a as Record<string, Shape>;
    const bo = b as Record<string, Shape>;
    const bare = (k: string) => k.replace(/\?$/, '');
    const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)].map(bare))].sort();
    const out: Record<string, Shape> = {};
    for (const k of keys) {
      const x = ao[k] ?? ao[`${k}?`];
      const y = bo[k] ?? bo[`${k}?`];
      const optional = x === undefined || y === undefined || `${k}?` in ao || `${k}?` in bo;
      out[optional ? `${k}?` : k] = x === undefined ? y! : y === undefined ? x : merge(x, y);
    }
    return out;
  }
  const members = [...(isUnion(a) ? a.oneOf : [a]), ...(isUnion(b) ? b.oneOf : [b])];
  const byKind = new Map<string, Shape>();
  for (const m of members) {
    // Objects merge with objects and arrays with arrays inside a union; primitives stay apart.
    const kind = Array.isArray(m) ? 'array' : typeof m === 'object' ? 'object' : JSON.stringify(m);
    const seen = byKind.get(kind);
    byKind.set(kind, seen === undefined ? m : merge(seen, m));
  }
  const list = [...byKind.values()].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
  return list.length === 1 ? list[0]! : { oneOf: list };
}

function headerShape(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(h).sort()) {
    const v = String(h[k]);
    out[k] = !HEADER_VALUES.has(k) ? '<value>' : k === 'anthropic-beta' ? v.split(',').map((x) => x.trim()).sort().join(',') : v;
  }
  return out;
}

export interface ClientFixture {
  client: string;
  version: string;
  routes: Record<string, { requests: number; headers: Record<string, string>; body: Shape }>;
}

/** Route key: method, path and the query (values kept: ?beta=true). */
function route(r: Recorded): string {
  const u = new URL(r.url, 'http://x');
  const q = [...u.searchParams.entries()].sort().map(([k, v]) => `${k}=${v}`).join('&');
  return `${r.method} ${u.pathname}${q ? `?${q}` : ''}`;
}

export function fixtureOf(client: string, version: string, recorded: readonly Recorded[]): ClientFixture {
  const routes: ClientFixture['routes'] = {};
  for (const r of recorded) {
    const key = route(r);
    const headers = headerShape(r.headers);
    const body = shapeOf(r.body);
    const seen = routes[key];
    if (seen === undefined) routes[key] = { requests: 1, headers, body };
    else {
      seen.requests++;
      seen.headers = merge(seen.headers, headers) as Record<string, string>;
      seen.body = merge(seen.body, body);
    }
  }
  return { client, version, routes: Object.fromEntries(Object.entries(routes).sort(([a], [b]) => a.localeCompare(b))) };
}

/**
 * The recorded shape must equal the committed fixture. MLXK_UPDATE_FIXTURES=1 rewrites it (after
 * a client upgrade: review the diff, and docs/CLIENTS.md with it).
 */
export function checkFixture(name: string, actual: ClientFixture): void {
  const file = join(REPO, 'test', 'fixtures', 'clients', `${name}.json`);
  const text = `${JSON.stringify(actual, null, 1)}\n`;
  if (process.env.MLXK_UPDATE_FIXTURES === '1') {
    writeFileSync(file, text);
    return;
  }
  const expected = JSON.parse(readFileSync(file, 'utf8')) as ClientFixture;
  assert.equal(actual, expected, `what ${name} sends changed (test/fixtures/clients/${name}.json); if the client was upgraded on purpose, rerun with MLXK_UPDATE_FIXTURES=1 and review the diff`);
}

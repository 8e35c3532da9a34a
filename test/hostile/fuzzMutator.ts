// Seeded one-change mutants of a model directory for the fuzz test (issue 15): a JSON field of
// config.json / generation_config.json / tokenizer_config.json / the index / a preset, the JSON
// text itself, the safetensors header (length, dtypes, shapes, offsets, names, duplicates), the
// data section, tiktoken.model lines and the chat template. Each mutant says whether every command
// that reads the tensors must refuse it (shifted data, duplicate names): those are the silent
// corruptions the issue found, the rest may be accepted or refused but never crash or hang.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFile } from './mutants.js';

export type Rand = () => number;

export interface Mutation {
  /** One line: file, what changed, to what. */
  desc: string;
  /** Shifted data or a repeated tensor name: inspect, generate and quantize must exit non-zero. */
  mustRefuse: boolean;
  /** Writes the changed file into the mutant directory (a preset is written there as preset.json). */
  apply(dir: string): void;
}

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

const NUMBERS = [0, -1, 1, 2, 3, 7, 64, 0.5, -0.5, 1e-30, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -1e308, 65536, 1e9];
const STRINGS = ['', ' ', 'x', 'BF16', 'F8_E4M3', '..', '/', '\u0000', '((a+)+)+$', '\\', '{{', '{%', 'model.safetensors', 'é'.repeat(3)];
const OTHER: unknown[] = [null, true, false, [], {}, [1, 2], { a: 1 }];

/** A replacement for a JSON value: interesting constants, small arithmetic on numbers, edits of strings and arrays. */
function newValue(r: Rand, v: unknown): unknown {
  const k = r();
  if (typeof v === 'number' && k < 0.4) return pick(r, [v + 1, v - 1, v * 2, -v, Math.floor(v / 2), v * 1e6, v + 0.5]);
  if (typeof v === 'string' && k < 0.4) return pick(r, [v.slice(0, int(r, v.length + 1)), v + v, v.toUpperCase(), `${v}x`, v.replace(/./u, '')]);
  if (Array.isArray(v) && k < 0.4) {
    const a = [...v];
    const op = int(r, 3);
    if (op === 0) a.splice(int(r, a.length), 1);
    else if (op === 1 && a.length) a.push(a[int(r, a.length)]);
    else a.reverse();
    return a;
  }
  const j = r();
  return j < 0.45 ? pick(r, NUMBERS) : j < 0.8 ? pick(r, STRINGS) : pick(r, OTHER);
}

type Path = Array<string | number>;

/** Every path in a JSON value (objects and arrays included), at most `cap` of them. */
function paths(v: unknown, at: Path = [], out: Path[] = [], cap = 5000): Path[] {
  if (out.length >= cap) return out;
  if (at.length) out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out, cap));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out, cap);
  return out;
}

function mutateJson(r: Rand, json: unknown): { json: unknown; what: string } {
  const all = paths(json);
  const path = pick(r, all);
  let parent = json as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  const name = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
  if (r() < 0.15 && !Array.isArray(parent)) {
    delete parent[key];
    return { json, what: `${name} deleted` };
  }
  const v = newValue(r, parent[key]);
  parent[key] = v;
  return { json, what: `${name} = ${JSON.stringify(v)?.slice(0, 60)}` };
}

/** The JSON text broken rather than a value changed: truncated, a byte replaced, NaN/Infinity, empty. */
function mutateJsonText(r: Rand, text: string): { text: string; what: string } {
  const op = int(r, 5);
  if (op === 0) {
    const at = int(r, text.length);
    return { text: text.slice(0, at), what: `truncated at ${at}` };
  }
  if (op === 1) {
    const at = int(r, text.length);
    const c = pick(r, ['"', '{', '}', ',', '\u0000', '\\', ']', '9']);
    return { text: text.slice(0, at) + c + text.slice(at + 1), what: `byte ${at} → ${JSON.stringify(c)}` };
  }
  if (op === 2) {
    const m = [...text.matchAll(/: (-?\d+(\.\d+)?)/g)];
    if (m.length) {
      const hit = pick(r, m);
      const lit = pick(r, ['NaN', 'Infinity', '-Infinity', '1e999', '0x10']);
      return { text: text.slice(0, hit.index!) + `: ${lit}` + text.slice(hit.index! + hit[0].length), what: `a number → ${lit}` };
    }
  }
  const whole = pick(r, ['', 'null', '[]', '{}', '"x"', '{"a":']);
  return { text: whole, what: `whole file ${JSON.stringify(whole)}` };
}

const JSON_FILES = ['config.json', 'generation_config.json', 'tokenizer_config.json', 'model.safetensors.index.json'];

export function jsonMutation(r: Rand, src: string, file: string): Mutation {
  const original = readFileSync(join(src, file), 'utf8');
  if (r() < 0.2) {
    const { text, what } = mutateJsonText(r, original);
    return { desc: `${file}: ${what}`, mustRefuse: false, apply: (d) => writeFile(d, file, text) };
  }
  const { json, what } = mutateJson(r, JSON.parse(original));
  return { desc: `${file}: ${what}`, mustRefuse: false, apply: (d) => writeFile(d, file, JSON.stringify(json, null, 1)) };
}

interface Header {
  len: number;
  json: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown } & Record<string, unknown>>;
  data: Buffer;
}

function readHeader(bytes: Buffer): Header {
  const len = Number(bytes.readBigUInt64LE(0));
  return { len, json: JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')), data: bytes.subarray(8 + len) };
}

/** A safetensors file from header text, padded with spaces to 8 bytes as the format's writers do. */
function build(headerText: string, data: Buffer): Buffer {
  let h = Buffer.from(headerText, 'utf8');
  if (h.length % 8) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)]);
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([n, h, data]);
}

const DTYPES = ['BF16', 'F16', 'F32', 'F64', 'U32', 'I32', 'U8', 'I8', 'F8_E4M3', 'BOOL', 'XX', ''];

export function safetensorsMutation(r: Rand, src: string): Mutation {
  const file = 'model.safetensors';
  const bytes = readFileSync(join(src, file));
  const h = readHeader(bytes);
  const names = Object.keys(h.json).filter((n) => n !== '__metadata__');
  const name = pick(r, names);
  const entry = h.json[name]!;
  const out = (desc: string, data: Buffer, mustRefuse = false): Mutation => ({ desc: `${file}: ${desc}`, mustRefuse, apply: (d) => writeFile(d, file, data) });
  const op = int(r, 12);
  switch (op) {
    case 0: {
      // The issue's silent corruption: every tensor one byte off, the padding absorbing it.
      const delta = pick(r, [-1, -2, -3, -7, 1]);
      const b = Buffer.from(bytes);
      b.writeBigUInt64LE(BigInt(h.len + delta));
      return out(`header length ${h.len} → ${h.len + delta} (data shifted)`, b, true);
    }
    case 1: {
      const v = pick(r, [0, 1, 2 ** 40, 2 ** 63, bytes.length, bytes.length - 8]);
      const b = Buffer.from(bytes);
      b.writeBigUInt64LE(BigInt(v));
      return out(`header length → ${v}`, b);
    }
    case 2: {
      // A repeated name: JSON parsers keep the last, so the text is written by hand.
      const other = pick(r, names);
      const text = JSON.stringify(h.json);
      const dup = `${JSON.stringify(name)}:${JSON.stringify(h.json[other])}`;
      return out(`tensor "${name}" twice (second with "${other}"'s entry)`, build(`${text.slice(0, -1)},${dup}}`, h.data), true);
    }
    case 3:
      entry.dtype = pick(r, DTYPES);
      return out(`"${name}".dtype → ${JSON.stringify(entry.dtype)}`, build(JSON.stringify(h.json), h.data));
    case 4: {
      const shape = [...(entry.shape as number[])];
      const k = int(r, 4);
      if (k === 0) shape[int(r, shape.length)] = pick(r, [0, 1, -1, 2 ** 32, 2 ** 53, 3.5]);
      else if (k === 1) shape.push(pick(r, [1, 2]));
      else if (k === 2) shape.pop();
      else shape.reverse();
      entry.shape = shape;
      return out(`"${name}".shape → ${JSON.stringify(shape)}`, build(JSON.stringify(h.json), h.data));
    }
    case 5: {
      const [s, e] = entry.data_offsets as [number, number];
      const choices: Array<[unknown, unknown]> = [[s + 1, e + 1], [s, e - 1], [s - 1, e], [e, s], [s, e + 2 ** 40], [-1, e], [s, 'x'], [s + 0.5, e], [s, e * 2]];
      entry.data_offsets = pick(r, choices);
      return out(`"${name}".data_offsets → ${JSON.stringify(entry.data_offsets)}`, build(JSON.stringify(h.json), h.data));
    }
    case 6:
      delete h.json[name];
      return out(`"${name}" removed from the header`, build(JSON.stringify(h.json), h.data));
    case 7: {
      const to = pick(r, ['', 'x', `${name}.x`, pick(r, names), name.replace(/\d+/, '999'), name.replace(/\d+/, '-1')]);
      const j = Object.fromEntries(Object.entries(h.json).map(([k, v]) => [k === name ? to : k, v]));
      return out(`"${name}" renamed "${to}"`, build(JSON.stringify(j), h.data));
    }
    case 8: {
      const at = int(r, h.data.length);
      return out(`data truncated to ${at} of ${h.data.length} bytes`, Buffer.concat([bytes.subarray(0, 8 + h.len), h.data.subarray(0, at)]));
    }
    case 9: {
      const n = pick(r, [1, 7, 8, 4096]);
      return out(`${n} byte(s) appended`, Buffer.concat([bytes, Buffer.alloc(n, 0x41)]));
    }
    case 10: {
      h.json.__metadata__ = newValue(r, h.json.__metadata__) as never;
      return out(`__metadata__ → ${JSON.stringify(h.json.__metadata__)}`, build(JSON.stringify(h.json), h.data));
    }
    default: {
      const text = bytes.subarray(8, 8 + h.len).toString('utf8');
      const { text: t, what } = mutateJsonText(r, text);
      return out(`header JSON ${what}`, build(t, h.data));
    }
  }
}

export function tiktokenMutation(r: Rand, src: string): Mutation {
  const file = 'tiktoken.model';
  const lines = readFileSync(join(src, file), 'utf8').split('\n');
  const i = int(r, lines.length - 1);
  const op = int(r, 6);
  let what: string;
  if (op === 0) (what = `line ${i} removed`), lines.splice(i, 1);
  else if (op === 1) (what = `line ${i} repeated`), lines.splice(i, 0, lines[i]!);
  else if (op === 2) (what = `line ${i} rank → ${(lines[i] = `${lines[i]!.split(' ')[0]} ${pick(r, ['-1', 'x', '', '1e9', '4294967296', '0'])}`)}`);
  else if (op === 3) (what = `line ${i} token → ${(lines[i] = `${pick(r, ['', '!!!', '====', 'QUFB'])} ${lines[i]!.split(' ')[1]}`)}`);
  else if (op === 4) (what = `truncated after line ${i}`), lines.splice(i);
  else (what = 'emptied'), lines.splice(0);
  const text = lines.join('\n');
  return { desc: `${file}: ${what}`, mustRefuse: false, apply: (d) => writeFile(d, file, text) };
}

const SNIPPETS = [
  '{{', '{%', '}}', '%}', '{% endfor %}', '{% if %}', '{{ messages[99].content }}', '{{ x.y.z }}', "{{ raise_exception('no') }}",
  '{% for i in range(100000000) %}x{% endfor %}', '{% for m in messages %}{% for n in messages %}{{ n.content }}{% endfor %}{% endfor %}',
  '{% set s = "ab" %}{% for i in range(30) %}{% set s = s ~ s %}{% endfor %}{{ s | length }}', '{{ "" }}', '{{ messages | tojson }}',
  '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}', '{{ 1 / 0 }}', '{{ messages[0].content * 100000000 }}', '<|im_end|>', '\u0000',
];

export function templateMutation(r: Rand, src: string): Mutation {
  const file = 'tokenizer_config.json';
  const cfg = JSON.parse(readFileSync(join(src, file), 'utf8')) as { chat_template: string };
  const t = cfg.chat_template;
  const at = int(r, t.length);
  const op = int(r, 3);
  const s = pick(r, SNIPPETS);
  let what: string;
  if (op === 0) {
    const n = 1 + int(r, 40);
    cfg.chat_template = t.slice(0, at) + t.slice(at + n);
    what = `${n} chars cut at ${at}`;
  } else if (op === 1) {
    cfg.chat_template = t.slice(0, at) + s + t.slice(at);
    what = `${JSON.stringify(s)} inserted at ${at}`;
  } else {
    cfg.chat_template = s;
    what = `replaced by ${JSON.stringify(s)}`;
  }
  return { desc: `${file}: chat_template ${what}`, mustRefuse: false, apply: (d) => writeFile(d, file, JSON.stringify(cfg)) };
}

const HOSTILE_PATTERNS = ['(a+)+$', '((x|xx)*)*y', '(.*){20}', '[', '(?<=a)b', '\\', '', '.*', '(((((((((((a)))))))))))', 'a{99999}'];

/** A preset file (written into the mutant as preset.json): a field or a rule's pattern changed. */
export function presetMutation(r: Rand, presetFile: string): Mutation {
  const p = JSON.parse(readFileSync(presetFile, 'utf8')) as { rules: Array<{ pattern: string }> };
  let what: string;
  let json: unknown = p;
  if (r() < 0.3 && p.rules.length) {
    const rule = pick(r, p.rules);
    rule.pattern = pick(r, HOSTILE_PATTERNS);
    what = `a rule's pattern → ${JSON.stringify(rule.pattern)}`;
  } else ({ json, what } = mutateJson(r, p));
  return { desc: `preset ${presetFile.split('/').pop()}: ${what}`, mustRefuse: false, apply: (d) => writeFile(d, 'preset.json', JSON.stringify(json)) };
}

/** One mutation of `src` (a model directory; `hasIndex` when it has model.safetensors.index.json). */
export function randomMutation(r: Rand, src: string, hasIndex: boolean, presetFile: string): Mutation {
  const k = r();
  if (k < 0.3) return safetensorsMutation(r, src);
  if (k < 0.6) return jsonMutation(r, src, pick(r, JSON_FILES.filter((f) => hasIndex || f !== 'model.safetensors.index.json')));
  if (k < 0.72) return templateMutation(r, src);
  if (k < 0.82) return tiktokenMutation(r, src);
  return presetMutation(r, presetFile);
}

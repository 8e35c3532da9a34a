#!/usr/bin/env node
// Builds the shipped calibration set (calib/calib.txt, calib/chat.jsonl and the source
// table of calib/README.md) from calib/sources.json: text written for this project and
// extracts of permissively licensed files installed by npm (package-lock pins them) or
// by Debian packages. Every extract's sha256 is recorded, so a build on another machine
// either reproduces the committed files byte for byte or says which source differs.
//
//   node tools/build-calib.mjs           write the files
//   node tools/build-calib.mjs --check   compare with the committed files (exit 1 on a difference)
//   node tools/build-calib.mjs --record  write the files and record each extract's sha256 (after editing sources.json)
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ALLOWED = new Set(['MIT', 'BSD-2-Clause', 'BSD-3-Clause', 'Apache-2.0', 'ISC']);
const TABLE_START = '<!-- sources: written by tools/build-calib.mjs -->';
const TABLE_END = '<!-- end of sources -->';

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

function npmPackage(root, name) {
  const path = join(root, 'node_modules', name, 'package.json');
  if (!existsSync(path)) return null;
  const j = JSON.parse(readFileSync(path, 'utf8'));
  return { version: j.version, licence: typeof j.license === 'string' ? j.license : j.license?.type };
}

function location(root, s) {
  if (s.origin === 'npm') return join(root, 'node_modules', s.package, s.file);
  if (s.origin === 'project') return join(root, 'calib', s.file);
  return s.path;
}

/** The bytes taken from a source: the whole file, or its head cut at the last line end within maxBytes; LF line ends. */
function extract(buf, maxBytes) {
  let b = buf;
  if (maxBytes && b.length > maxBytes) {
    const cut = b.lastIndexOf(0x0a, maxBytes - 1);
    b = b.subarray(0, cut > 0 ? cut + 1 : maxBytes);
  }
  const text = new TextDecoder('utf-8', { fatal: true }).decode(b);
  return text.replace(/\r\n?/g, '\n').replace(/\s+$/, '') + '\n';
}

/** Canonical chat JSONL: each line {"messages": [...], "tools"?: [...]}, re-serialized. */
function chatLines(text, where) {
  return text.split('\n').filter((l) => l.trim()).map((l, i) => {
    const o = JSON.parse(l);
    if (!Array.isArray(o.messages) || o.messages.length === 0) throw new Error(`${where}:${i + 1}: expected {"messages": [...]}`);
    return JSON.stringify(o.tools ? { tools: o.tools, messages: o.messages } : { messages: o.messages });
  });
}

/**
 * Builds the set from the sources present. Returns the outputs, the sources missing on
 * this machine (a Debian package not installed) and those whose extract differs from
 * the recorded sha256 or whose package is not the recorded version or licence.
 */
export function buildCalib(root = ROOT, { record = false } = {}) {
  const manifestPath = join(root, 'calib', 'sources.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const text = [];
  const chat = [];
  const missing = [];
  const problems = [];
  for (const s of manifest.sources) {
    const where = location(root, s);
    if (s.origin === 'npm') {
      const p = npmPackage(root, s.package);
      if (!p) {
        missing.push(where);
        continue;
      }
      if (record) Object.assign(s, { version: p.version, licence: p.licence });
      else if (p.version !== s.version || p.licence !== s.licence) problems.push(`${s.package}: installed ${p.version} (${p.licence}), recorded ${s.version} (${s.licence})`);
    }
    if (s.origin !== 'project' && !ALLOWED.has(s.licence)) problems.push(`${where}: licence ${s.licence} is not one of ${[...ALLOWED].join(', ')}`);
    if (!existsSync(where)) {
      missing.push(where);
      continue;
    }
    const part = extract(readFileSync(where), s.maxBytes);
    const digest = sha256(part);
    if (record) s.sha256 = digest;
    else if (s.sha256 !== digest) problems.push(`${where}: extract sha256 ${digest}, recorded ${s.sha256}`);
    if (s.kind === 'chat') chat.push(...chatLines(part, where));
    else text.push(part);
  }
  const outputs = {
    'calib.txt': Buffer.from(text.join('\n\n'), 'utf8'),
    'chat.jsonl': Buffer.from(chat.join('\n') + '\n', 'utf8'),
  };
  if (record && missing.length === 0) manifest.outputs = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, sha256(v)]));
  return { manifest, manifestPath, outputs, missing, problems, table: sourceTable(manifest) };
}

function sourceTable(manifest) {
  const rows = manifest.sources.map((s) => {
    const file = s.origin === 'npm' ? `node_modules/${s.package}/${s.file}` : s.origin === 'project' ? `calib/${s.file}` : s.path;
    const pkg = s.origin === 'npm' ? `npm \`${s.package}\`` : s.origin === 'debian' ? `Debian \`${s.package}\`` : 'this project';
    return `| ${pkg} | ${s.version ?? '—'} | \`${file}\`${s.maxBytes ? ` (first ${s.maxBytes} bytes)` : ''} | ${s.licence ?? 'MIT (this project)'} |`;
  });
  return [TABLE_START, '| source | version | file | licence |', '|---|---|---|---|', ...rows, TABLE_END].join('\n');
}

/** calib/README.md with its source table replaced by `table`. */
export function readmeWithTable(root, table) {
  const path = join(root, 'calib', 'README.md');
  const old = readFileSync(path, 'utf8');
  const a = old.indexOf(TABLE_START);
  const b = old.indexOf(TABLE_END);
  if (a < 0 || b < 0) throw new Error(`${path}: no source table markers`);
  return old.slice(0, a) + table + old.slice(b + TABLE_END.length);
}

function main() {
  const check = process.argv.includes('--check');
  const record = process.argv.includes('--record');
  const r = buildCalib(ROOT, { record });
  for (const m of r.missing) console.error(`missing source (not installed here): ${m}`);
  for (const p of r.problems) console.error(p);
  if (r.problems.length || r.missing.length) {
    console.error(r.missing.length ? 'cannot rebuild the set on this machine; the committed files are checked against calib/sources.json "outputs" instead' : 'sources differ from calib/sources.json');
    process.exit(1);
  }
  const readme = readmeWithTable(ROOT, r.table);
  if (check) {
    let same = readFileSync(join(ROOT, 'calib', 'README.md'), 'utf8') === readme;
    for (const [name, buf] of Object.entries(r.outputs)) same &&= existsSync(join(ROOT, 'calib', name)) && readFileSync(join(ROOT, 'calib', name)).equals(buf);
    console.log(same ? 'calib/: up to date' : 'calib/: differs from the builder output (run node tools/build-calib.mjs)');
    process.exit(same ? 0 : 1);
  }
  for (const [name, buf] of Object.entries(r.outputs)) writeFileSync(join(ROOT, 'calib', name), buf);
  writeFileSync(join(ROOT, 'calib', 'README.md'), readme);
  if (record) writeFileSync(r.manifestPath, JSON.stringify(r.manifest, null, 1) + '\n');
  for (const [name, buf] of Object.entries(r.outputs)) console.log(`calib/${name}: ${buf.length} bytes, sha256 ${sha256(buf)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

// The shipped calibration set (calib/): the committed files are what tools/build-calib.mjs
// builds from the recorded sources, and none of it overlaps the evaluation text — no
// 12-word sequence and no 80-character run of eval-A.txt appears in it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, TINY_KIMI } from '../helpers.js';

interface Built {
  outputs: Record<string, Buffer>;
  missing: string[];
  problems: string[];
  table: string;
  manifest: { outputs: Record<string, string>; sources: { origin: string; licence?: string }[] };
}

const builder = () => import(pathToFileURL(join(REPO, 'tools', 'build-calib.mjs')).href) as Promise<{ buildCalib(root: string): Built; readmeWithTable(root: string, table: string): string }>;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const committed = (name: string) => readFileSync(join(REPO, 'calib', name));

/** The calibration text as a model reads it: calib.txt, and every string inside chat.jsonl. */
function calibrationText(): string {
  const strings: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const line of committed('chat.jsonl').toString('utf8').split('\n').filter(Boolean)) walk(JSON.parse(line));
  return committed('calib.txt').toString('utf8') + '\n' + strings.join('\n');
}

const words = (t: string) => t.toLowerCase().split(/\s+/).filter(Boolean);

/** Shared 12-word sequences (whitespace-insensitive, case-insensitive). */
export function sharedShingles(a: string, b: string, n = 12): string[] {
  const wa = words(a);
  const set = new Set<string>();
  for (let i = 0; i + n <= wa.length; i++) set.add(wa.slice(i, i + n).join(' '));
  const wb = words(b);
  const hits: string[] = [];
  for (let i = 0; i + n <= wb.length; i++) if (set.has(wb.slice(i, i + n).join(' '))) hits.push(wb.slice(i, i + n).join(' '));
  return hits;
}

/**
 * Shared runs of `len` characters starting after a space (whitespace collapsed): any common
 * substring of about len + a word's length that holds a space is found, because its first
 * word start is one in both texts. Runs of mostly punctuation (rules of dashes) are text of nobody's.
 */
export function sharedRuns(a: string, b: string, len = 80): string[] {
  const norm = (t: string) => t.replace(/\s+/g, ' ');
  const starts = (t: string) => {
    const out: string[] = [];
    for (let i = t.indexOf(' '); i >= 0 && i + 1 + len <= t.length; i = t.indexOf(' ', i + 1)) {
      const run = t.slice(i + 1, i + 1 + len);
      if ((run.match(/[\p{L}\p{N}]/gu)?.length ?? 0) >= len / 2) out.push(run);
    }
    return out;
  };
  const set = new Set(starts(norm(a)));
  return starts(norm(b)).filter((s) => set.has(s));
}

test('the overlap checks find what they look for', () => {
  const evalText = readFileSync(join(TINY_KIMI, 'eval-A.txt'), 'utf8');
  const planted = `some calibration prose, then ${evalText.slice(20000, 20600)} and more prose`;
  assert.ok(sharedShingles(evalText, planted).length > 10);
  assert.ok(sharedRuns(evalText, planted).length > 10);
  assert.equal(sharedShingles(evalText, 'one two three four five six seven eight nine ten eleven twelve thirteen'), []);
});

test('no 12-word sequence or 80-character run of eval-A.txt is in the calibration set', () => {
  const evalText = readFileSync(join(TINY_KIMI, 'eval-A.txt'), 'utf8');
  const calib = calibrationText();
  assert.ok(calib.length > 300_000, `the set is ${calib.length} characters`);
  assert.equal(sharedShingles(evalText, calib).slice(0, 3), []);
  assert.equal(sharedRuns(evalText, calib).slice(0, 3), []);
});

test('the committed files are the builder\'s output', async () => {
  const { buildCalib, readmeWithTable } = await builder();
  const r = buildCalib(REPO);
  assert.equal(r.problems, []);
  for (const s of r.manifest.sources) if (s.origin !== 'project') assert.ok(['MIT', 'BSD-3-Clause', 'Apache-2.0', 'ISC', 'BSD-2-Clause'].includes(s.licence!), `${JSON.stringify(s)}`);
  for (const name of ['calib.txt', 'chat.jsonl']) {
    // Always: the committed file is the one the manifest records.
    assert.is(sha256(committed(name)), r.manifest.outputs[name], `calib/${name} against sources.json outputs`);
    // Where every source is installed (npm ci + the Debian packages named): rebuilt byte for byte.
    if (r.missing.length === 0) assert.is(sha256(r.outputs[name]!), sha256(committed(name)), `calib/${name} rebuilt`);
  }
  if (r.missing.length === 0) assert.is(readmeWithTable(REPO, r.table), committed('README.md').toString('utf8'));
  else console.log(`calib set not rebuilt here: ${r.missing.length} source(s) not installed (${r.missing[0]}, …); checked against the recorded sha256`);
});

test.run();

// Re-running a `quantize` that already finished (issue 15): a retry script must be able to tell
// "done" from "failed". Same settings → exit 0, "already complete", nothing rewritten; other
// settings → exit 1 with one line naming what differs; a finished output missing a shard is
// completed again by the same command.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DONE_FILE } from '../../lib/quant/finished.js';
import { TINY_KIMI, tmpDir } from '../helpers.js';
import { hasStackTrace, mlxk, type Run } from './mutants.js';

const out = join(tmpDir('mlxk-rerun-'), 'q4');
// Small shards, so one can go missing while others stay.
const base = ['quantize', TINY_KIMI, out, '--bits', '4', '--group-size', '64', '--shard-size', '2MB', '--quiet'];

/** Every file's sha256 and mtime, so "nothing written" is checked, not assumed. */
function snapshot(dir: string): Record<string, string> {
  const s: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) s[f] = `${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')} ${statSync(join(dir, f)).mtimeMs}`;
  return s;
}

function oneLine(r: Run): string {
  assert.not.ok(hasStackTrace(r), r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => !/MLXK_NATIVE_MISSING/.test(l));
  assert.is(lines.length, 1, r.stderr);
  return lines[0]!;
}

interface Report { alreadyComplete: boolean; shards: string[]; bytes: number; tensors: Array<{ name: string; relRmsError: number | null }> }
let first: Report;
let firstFiles: Record<string, string>;

test('the first run converts and records that it finished', async () => {
  const r = await mlxk([...base, '--json'], 120_000);
  assert.is(r.code, 0, r.stderr);
  first = JSON.parse(r.stdout) as Report;
  assert.is(first.alreadyComplete, false);
  assert.ok(first.shards.length >= 2, `${first.shards.length} shard(s): the missing-shard case needs two`);
  firstFiles = snapshot(out);
  assert.ok(DONE_FILE in firstFiles && 'config.json' in firstFiles);
});

test('the same command again: exit 0, "already complete", no file touched; --json says so with the first report', async () => {
  const r = await mlxk(base);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: already complete with the same settings \\(preset \\S+, ${first.shards.length} shard\\(s\\), .* bits per weight\\); nothing written$`));
  assert.equal(snapshot(out), firstFiles);
  const j = await mlxk([...base, '--json']);
  assert.is(j.code, 0, j.stderr);
  const rep = JSON.parse(j.stdout) as Report;
  assert.is(rep.alreadyComplete, true);
  assert.equal(rep.shards, first.shards);
  assert.is(rep.bytes, first.bytes);
  assert.equal(rep.tensors, first.tensors);
  assert.equal(snapshot(out), firstFiles);
});

test('other settings: exit 1, one line naming what differs and suggesting --force or a new directory; nothing touched', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bits', '3'], /module model\.embed_tokens: 4-bit g64 \w+ before, 3-bit g64 \w+ now \(and \d+ more module\(s\)\)|preset "[^"]+" before, "[^"]+" now/],
    [['--group-size', '32'], /: 4-bit g64 \w+ before, 4-bit g32 \w+ now/],
    [['--method', 'mse'], /^mlxk: .*: module model\.embed_tokens: 4-bit g64 rtn before, 4-bit g64 mse now \(and 38 more module\(s\)\);/],
    [['--shard-size', '1MB'], /--shard-size 2000000 bytes before, 1000000 now/],
  ];
  for (const [change, what] of cases) {
    const args = [...base];
    for (let i = 0; i < change.length; i += 2) {
      const at = args.indexOf(change[i]!);
      if (at >= 0) args[at + 1] = change[i + 1]!;
      else args.push(change[i]!, change[i + 1]!);
    }
    const r = await mlxk(args);
    assert.is(r.code, 1, `${change.join(' ')}: ${r.stderr}`);
    const line = oneLine(r);
    assert.match(line, new RegExp(`^mlxk: .*q4: holds a finished conversion with different settings: `), line);
    assert.match(line, what, line);
    assert.match(line, /; pass --force to overwrite it, or choose a new directory$/, line);
    assert.equal(snapshot(out), firstFiles, change.join(' '));
  }
});

test('a directory with a model mlxk did not record stays "not empty" (exit 1)', async () => {
  const other = tmpDir();
  writeFileSync(join(other, 'config.json'), '{}');
  const r = await mlxk(['quantize', TINY_KIMI, other, '--bits', '4', '--quiet']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^mlxk: .*: is not empty$/m);
});

test('same settings with a shard gone: the run writes it again, byte-identical, and reports the rest resumed', async () => {
  const gone = first.shards[first.shards.length - 1]!;
  const before = readFileSync(join(out, gone));
  rmSync(join(out, gone));
  const r = await mlxk([...base, '--json'], 120_000);
  assert.is(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as Report & { resumedShards: number };
  assert.is(rep.alreadyComplete, false);
  assert.is(rep.resumedShards, first.shards.length - 1);
  assert.ok(readFileSync(join(out, gone)).equals(before));
  const again = await mlxk(base);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /already complete/);
});

test('--force over a finished conversion with other settings rewrites it', async () => {
  const r = await mlxk([...base.map((a) => (a === '4' ? '8' : a)), '--force', '--json'], 120_000);
  assert.is(r.code, 0, r.stderr);
  assert.is((JSON.parse(r.stdout) as Report).alreadyComplete, false);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization: { bits: number } };
  assert.is(cfg.quantization.bits, 8);
});

test.run();

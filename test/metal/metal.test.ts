// metal/qmatmul.metal under test without a Mac: the kernels compiled as C++ against a shim of the
// Metal types (shim/metal_stdlib) and run thread by thread by a fiber emulator (emu.h), checked
// against a float64 reference (qmatmul_check.cc). Planted bugs, applied to a copy of the source,
// must make the check fail — so it can. What this proves: indexing, unpacking, the bias fold, the
// reductions and the barriers. What it cannot: that Apple's compiler accepts the file, or speed.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, tmpDir } from '../helpers.js';

const run = promisify(execFile);
const SOURCE = join(REPO, 'metal', 'qmatmul.metal');
const HERE = join(REPO, 'test', 'metal');
const supported = process.arch === 'x64' && process.platform === 'linux';

/**
 * Builds the checker over `metalFile`; `-I metal` keeps its `../native/include` include working
 * from a copy. The real source must compile without warnings; a patched one may warn.
 */
async function build(metalFile: string, out: string, strict = true): Promise<string> {
  const args = ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Wno-attributes', '-Wno-unused-parameter', ...(strict ? ['-Werror'] : ['-w']), `-I${join(HERE, 'shim')}`, `-I${HERE}`, `-I${join(REPO, 'metal')}`, `-DMLXK_METAL_SOURCE="${metalFile}"`, join(HERE, 'qmatmul_check.cc'), '-o', out];
  await run('g++', args, { maxBuffer: 1 << 24 });
  return out;
}

async function check(binary: string, quick: boolean): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(binary, quick ? ['--quick'] : [], { maxBuffer: 1 << 24 });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    return { code: err.code ?? -1, out: err.stdout ?? String(e) };
  }
}

const BUGS: { name: string; patch: (src: string) => string }[] = [
  { name: 'dropped bias fold', patch: (s) => replaceOnce(s, ' + b * sum_x', '') },
  { name: 'missing barrier after the tile is used', patch: (s) => replaceNth(s, 'threadgroup_barrier(mem_flags::mem_threadgroup);', 2, '') },
  { name: 'group size hard-coded to 64', patch: (s) => replaceAll(s, '/ a.group_size', '/ 64') },
];

function replaceOnce(s: string, from: string, to: string): string {
  assert.is(s.split(from).length, 2, `the kernel source has "${from}" exactly once (update the planted bug if the kernel changed)`);
  return s.replace(from, to);
}
function replaceNth(s: string, from: string, n: number, to: string): string {
  const parts = s.split(from);
  assert.ok(parts.length > n, `the kernel source has "${from}" at least ${n} times`);
  return parts.slice(0, n).join(from) + to + parts.slice(n).join(from);
}
function replaceAll(s: string, from: string, to: string): string {
  assert.ok(s.includes(from), `the kernel source has "${from}"`);
  return s.split(from).join(to);
}

test('every kernel × width × group size × scale dtype, ragged shapes, odd offsets: equal to the float64 reference', async () => {
  if (!supported) {
    console.log(`  not run: the emulator's context switch is x86-64 Linux only (this is ${process.platform}-${process.arch})`);
    return;
  }
  const dir = tmpDir('mlxk-metal-');
  const { code, out } = await check(await build(SOURCE, join(dir, 'check')), false);
  assert.is(code, 0, out);
  const m = /^(\d+) checks, 0 failures$/m.exec(out);
  assert.ok(m, out);
  assert.is(Number(m![1]), 6 * 3 * 3 * 3 * 2, '3 kernels × 6 widths × 3 group sizes × 3 scale dtypes × 2 row counts');
});

test('planted bugs are caught: each patched kernel fails the check', async () => {
  if (!supported) return;
  const src = readFileSync(SOURCE, 'utf8');
  const dir = tmpDir('mlxk-metal-bugs-');
  const results = await Promise.all(
    BUGS.map(async (bug, i) => {
      const d = join(dir, String(i));
      mkdirSync(d);
      const file = join(d, 'qmatmul.metal');
      writeFileSync(file, bug.patch(src));
      assert.ok(existsSync(file));
      return { bug: bug.name, ...(await check(await build(file, join(d, 'check'), false), true)) };
    }),
  );
  for (const r of results) {
    assert.is(r.code, 1, `${r.bug}: the check passed a broken kernel\n${r.out}`);
    assert.match(r.out, /^FAIL /m, r.bug);
  }
});

test.run();

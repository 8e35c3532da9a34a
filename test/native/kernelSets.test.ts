// The kernel sets no machine here runs natively, against the scalar set (tools/kernel-check.cc,
// built by tools/check-kernels.sh): NEON cross-compiled and run under qemu-aarch64; AVX-512 with
// its intrinsics emulated by SIMDe on an AVX2 CPU (on a CPU with AVX-512 the addon's own tests run
// it natively). .ci/run installs the tools and sets MLXK_REQUIRE_NEON_CHECK / MLXK_REQUIRE_AVX512_CHECK
// when it has them; without them a check is left out, with a note.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO } from '../helpers.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

function check(set: string, missing: string[], install: string, required: string | undefined): void {
  if (missing.length > 0 && !required) {
    console.log(`kernelSets.test: the ${set} check is left out (${missing.join(', ')} not found: ${install})`);
    return;
  }
  test(`${set} kernels equal the scalar kernels (codes bit for bit, products within rounding) and a float64 attention`, () => {
    const r = spawnSync(join(REPO, 'tools', 'check-kernels.sh'), [set], { encoding: 'utf8', timeout: 15 * 60 * 1000 });
    assert.is(r.status, 0, `tools/check-kernels.sh ${set} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^${set}: .*: all equal$`, 'm'));
  });
}

check(
  'neon',
  ['aarch64-linux-gnu-g++', 'qemu-aarch64'].filter((t) => !have(t)),
  'sudo apt-get install g++-aarch64-linux-gnu qemu-user',
  process.env.MLXK_REQUIRE_NEON_CHECK,
);

const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
check(
  'avx512',
  [
    ...(have('g++') ? [] : ['g++']),
    ...(existsSync('/usr/include/simde/x86/avx512.h') ? [] : ['SIMDe']),
    ...(/ avx2 /.test(cpuinfo) ? [] : ['an x86-64 CPU with AVX2']),
  ],
  'sudo apt-get install libsimde-dev',
  process.env.MLXK_REQUIRE_AVX512_CHECK,
);

test.run();

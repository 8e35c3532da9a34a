// The NEON kernel set, which no machine here runs natively: tools/check-neon.sh cross-compiles it
// with the scalar set and compares them under qemu-aarch64 (tools/neon-check.cc). .ci/run installs
// the cross compiler and qemu and sets MLXK_REQUIRE_NEON_CHECK when it has them; without them the
// test is left out, with a note.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO } from '../helpers.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const tools = ['aarch64-linux-gnu-g++', 'qemu-aarch64'];
const missing = tools.filter((t) => !have(t));

if (missing.length === 0 || process.env.MLXK_REQUIRE_NEON_CHECK) {
  test('NEON kernels equal the scalar kernels under qemu-aarch64 (codes bit for bit, products within rounding)', () => {
    const r = spawnSync(join(REPO, 'tools', 'check-neon.sh'), { encoding: 'utf8', timeout: 10 * 60 * 1000 });
    assert.is(r.status, 0, `tools/check-neon.sh exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /NEON equals scalar/);
  });
} else {
  console.log(`neon.test: left out (${missing.join(', ')} not installed: sudo apt-get install g++-aarch64-linux-gnu qemu-user)`);
}

test.run();

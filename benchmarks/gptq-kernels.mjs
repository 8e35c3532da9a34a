// CPU and wall rates of the GPTQ kernels (Hessian, factor, GPTQ, the guard's objective, refit,
// learned rounding) on seeded random data, for this build and optionally an older one, one
// thread and two, interleaved so both see the same machine load:
//   node benchmarks/gptq-kernels.mjs [OLD_ADDON.node] [--n 2048] [--rows 512] [--reps 2]
// Each measurement runs in a fresh process (MLXK_NATIVE_ADDON picks the build); the codes of
// every build are hashed, so a speed-up that changed a bit of the result shows as a mismatch.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const n = flag('--n', 2048);
const rows = flag('--rows', 512);
const tokens = 1024;

if (args[0] === '--child') {
  const { gptqFactor, gptqQuantize, hessianAccumulate, hessianObjective, setThreads } = await import('../dist/lib/backend/native/addon.js');
  setThreads(Number(args[1]));
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const x = Float32Array.from({ length: tokens * n }, () => rand() - 0.5);
  const w = Float32Array.from({ length: rows * n }, () => (rand() - 0.5) * 0.05);
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const time = (fn) => { const c = cpu(); const t = performance.now(); const r = fn(); return [cpu() - c, (performance.now() - t) / 1e3, r]; };
  const h = new Float64Array(n * n);
  const [hc, hw] = time(() => hessianAccumulate(h, n, x, tokens));
  for (let j = 0; j < n; j++) h[j * n + j] += 1;
  const perm = Int32Array.from({ length: n }, (_, j) => j);
  const [fc, fw, u] = time(() => gptqFactor(h, n, perm));
  const [qc, qw, q] = time(() => gptqQuantize(w, rows, n, h, u, perm, 3, 64, 'bf16', 0, 0));
  const [oc, ow] = time(() => hessianObjective(w, rows, n, q.codes, q.scales, q.biases, 64, h));
  const [rc, rw, rq] = time(() => gptqQuantize(w, rows, n, h, u, perm, 3, 64, 'bf16', 2, 0));
  const [lc, lw, lq] = time(() => gptqQuantize(w, rows, n, h, u, perm, 3, 64, 'bf16', 2, 4));
  const hash = createHash('sha256');
  for (const r of [q, rq, lq]) for (const a of [r.codes, r.scales, r.biases]) hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  console.log(JSON.stringify({
    cpu: { hessian: hc, factor: fc, gptq: qc, objective: oc, refit2: rc - qc, learned4: lc - rc },
    wall: { hessian: hw, factor: fw, gptq: qw, objective: ow, refit2: rw - qw, learned4: lw - rw },
    hash: hash.digest('hex').slice(0, 16),
  }));
  process.exit(0);
}

const builds = [['new', '']];
if (args[0] && !args[0].startsWith('--')) builds.unshift(['old', args[0]]);
const reps = flag('--reps', 1);
const self = fileURLToPath(import.meta.url);
const results = [];
for (let rep = 0; rep < reps; rep++) {
  for (const threads of [1, 2]) {
    for (const [name, addon] of builds) {
      const env = { ...process.env };
      if (addon) env.MLXK_NATIVE_ADDON = addon;
      const load = loadavg()[0];
      const r = spawnSync(process.execPath, [self, '--child', String(threads), '--n', String(n), '--rows', String(rows)], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${name} (${threads} threads) failed: ${r.stderr}`);
      results.push({ build: name, threads, load1: load, ...JSON.parse(r.stdout) });
    }
  }
}
// Rates in G multiply-adds per CPU second: H += XᵀX tokens·n², the factor 2n³/3, GPTQ rows·n²/2,
// one H-product per row (the guard's objective) rows·n².
const rate = (r) => ({
  hessian: (tokens * n * n) / r.cpu.hessian / 1e9,
  factor: (2 * n ** 3 / 3) / r.cpu.factor / 1e9,
  gptq: (rows * n * n / 2) / r.cpu.gptq / 1e9,
  objective: (rows * n * n) / r.cpu.objective / 1e9,
});
const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v.toPrecision(3))]));
for (const r of results) console.log(JSON.stringify({ build: r.build, threads: r.threads, load1: Number(r.load1.toFixed(2)), hash: r.hash, gPerCpuS: round(rate(r)), cpuS: round(r.cpu), wallS: round(r.wall) }));
const hashes = new Set(results.map((r) => r.hash));
console.log(hashes.size === 1 ? `identical results across builds and thread counts (${[...hashes][0]})` : `RESULTS DIFFER: ${[...hashes].join(' ')}`);
console.log(JSON.stringify({ n, rows, tokens, loadavg: loadavg().map((v) => Number(v.toFixed(2))) }));

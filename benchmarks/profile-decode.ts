// Where a decoded token's time goes (issue 14), not a test: one model on the native backend,
// a prompt, then greedy decode steps with every Ops call timed (wall time of the call: its JS
// wrapper, the N-API crossing and the kernel) and attributed to the op and to the weight class
// it reads (the tensor table's role: attn, expert, shared_expert, dense_mlp, router, lm_head, …).
// Also: the step times' spread (p50/p90/p99, and the share of the wall time in steps over twice
// the median: stalls), the thread pool's counters (jobs spread over workers, jobs run inline, the
// caller's wait for the other threads, workers woken from sleep, waits that blocked), the process
// CPU time per step and the cost of one empty N-API crossing.
// "JS between ops" = the step's wall time minus the time inside Ops calls (model code, cache
// bookkeeping, sampling).
// DeepSeek/Kimi decode steps run every layer in one call (Ops.mlaLayers, one row of the table);
// MLXK_FUSED_LAYERS=0 gives the op-by-op breakdown by op and weight class.
//   npm run build && node dist/benchmarks/profile-decode.js MODEL_DIR [--tokens 64] [--batch 1]
import { loadavg } from 'node:os';
import { poolStats, threads } from '../lib/backend/native/addon.js';
import { NativeOps } from '../lib/backend/native/ops.js';
import type { Ops, Weight } from '../lib/backend/ops.js';
import { Checkpoint } from '../lib/io/checkpoint.js';
import { loadModel } from '../lib/models/load.js';
import { tensorTable } from '../lib/models/registry.js';
import { Sampler } from '../lib/engine/sampler.js';
import { Sequence } from '../lib/engine/sequence.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!dir) throw new Error('usage: profile-decode.js MODEL_DIR [--tokens N] [--batch B]');
const TOKENS = opt('tokens', 64);
const BATCH = opt('batch', 1);

interface Cell {
  calls: number;
  ns: number;
}
const cells = new Map<string, Cell>();
let inOps = 0;
let recording = false;
const roleOf = new Map<Weight, string>();

function record(key: string, ns: number): void {
  const c = cells.get(key) ?? { calls: 0, ns: 0 };
  c.calls++;
  c.ns += ns;
  cells.set(key, c);
}

/** Ops whose every call is timed and keyed by op name and the role of the weight it reads. */
function timed(inner: Ops): Ops {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...a: unknown[]) => {
        if (!recording) return (v as (...x: unknown[]) => unknown).apply(target, a);
        const role = a.map((x) => roleOf.get(x as Weight)).find((r) => r !== undefined);
        const exp = prop === 'moe' ? 'expert' : undefined;
        const t0 = process.hrtime.bigint();
        const r = (v as (...x: unknown[]) => unknown).apply(target, a);
        const ns = Number(process.hrtime.bigint() - t0);
        inOps += ns;
        record(`${String(prop)}${role ?? exp ? ` (${role ?? exp})` : ''}`, ns);
        return r;
      };
    },
  });
}

async function main(): Promise<void> {
  const native = new NativeOps();
  const ops = timed(native);
  const loaded = await loadModel(dir!, ops);
  const ck = Checkpoint.open(dir!);
  const roles = new Map(tensorTable(ck.config).entries.map((e) => [e.name, e.role as string]));
  ck.close();
  for (const [name, w] of loaded.weights.entries()) roleOf.set(w, roles.get(name) ?? 'other');

  // One empty crossing: the cheapest addon call there is.
  const N = 200000;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) threads();
  const crossingNs = Number(process.hrtime.bigint() - t0) / N;

  const vocab = loaded.model.info.vocabSize;
  const longest = 32 + 8 * (BATCH - 1) + 5 + TOKENS;
  if (longest > loaded.model.info.maxContext) throw new Error(`profile-decode: --tokens ${TOKENS} takes the longest sequence to ${longest} tokens, past the model's context of ${loaded.model.info.maxContext}`);
  const seqs = Array.from({ length: BATCH }, () => new Sequence(loaded.model));
  for (const [b, s] of seqs.entries()) await s.prefill(Array.from({ length: 32 + 8 * b }, (_, i) => (i * 7919 + 13 + b) % vocab));
  // Warm-up steps, then the measured ones. Greedy through the engine's sampler, as generate and
  // serve pick tokens (its cost belongs to the step).
  const greedy = new Sampler({ temperature: 0 });
  const next = (logits: Float32Array) => greedy.sample(logits);
  let logits = await Promise.all(seqs.map((s) => s.decode(1)));
  for (let i = 0; i < 4; i++) logits = await Promise.all(seqs.map((s, b) => s.decode(next(logits[b]!))));
  poolStats(true);
  recording = true;
  const cpu0 = process.cpuUsage();
  t0 = process.hrtime.bigint();
  const stepNs: number[] = [];
  for (let i = 0; i < TOKENS; i++) {
    const s0 = process.hrtime.bigint();
    logits = await Promise.all(seqs.map((s, b) => s.decode(next(logits[b]!))));
    stepNs.push(Number(process.hrtime.bigint() - s0));
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  recording = false;
  const pool = poolStats(true);

  const steps = TOKENS;
  const perStep = (ns: number) => ns / steps / 1000;
  const calls = [...cells.values()].reduce((a, c) => a + c.calls, 0);
  const lines: string[] = [];
  lines.push(`model ${dir} (${loaded.model.info.numLayers} layers), ${threads()} threads, batch ${BATCH}, ${steps} steps, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  lines.push(`step: ${perStep(wallNs).toFixed(1)} µs (${((BATCH * steps * 1e9) / wallNs).toFixed(1)} tokens/s); inside Ops calls ${perStep(inOps).toFixed(1)} µs; JS between ops ${perStep(wallNs - inOps).toFixed(1)} µs (${((100 * (wallNs - inOps)) / wallNs).toFixed(1)} %)`);
  // Stalls (a thread preempted for a scheduler tick, a collection) show as steps far above the median.
  const sorted = [...stepNs].sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000).toFixed(0);
  const median = sorted[sorted.length >> 1]!;
  const slowNs = stepNs.filter((ns) => ns > 2 * median).reduce((a, ns) => a + ns, 0);
  lines.push(`step times: p50 ${at(0.5)} µs, p90 ${at(0.9)}, p99 ${at(0.99)}, max ${at(1)}; steps over twice the median: ${((100 * slowNs) / wallNs).toFixed(1)} % of the wall time`);
  lines.push(`Ops calls per step: ${(calls / steps).toFixed(0)}; one empty N-API crossing: ${crossingNs.toFixed(0)} ns (× calls = ${((crossingNs * calls) / steps / 1000).toFixed(1)} µs per step)`);
  lines.push(`process CPU per step: ${((cpu.user + cpu.system) / steps).toFixed(1)} µs (all threads; with MLXK_THREADS=1 the work a step costs, whatever the load)`);
  lines.push(`pool per step: ${(pool.jobs / steps).toFixed(1)} jobs over the workers (${perStep(pool.jobNs).toFixed(1)} µs wall, of which the caller waited ${perStep(pool.waitNs).toFixed(1)} µs for the others), ${(pool.inlineJobs / steps).toFixed(1)} inline, ${(pool.wakeups / steps).toFixed(2)} worker wake-ups from sleep, ${(pool.blockedWaits / steps).toFixed(3)} waits that blocked for a late (likely preempted) task`);
  lines.push('');
  lines.push('| op (weight class) | calls per step | µs per step | % of step |');
  lines.push('|---|---|---|---|');
  for (const [k, c] of [...cells.entries()].sort((a, b) => b[1].ns - a[1].ns)) {
    lines.push(`| ${k} | ${(c.calls / steps).toFixed(1)} | ${perStep(c.ns).toFixed(1)} | ${((100 * c.ns) / wallNs).toFixed(1)} |`);
  }
  console.log(lines.join('\n'));
}

void main();

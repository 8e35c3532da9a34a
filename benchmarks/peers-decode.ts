// mlxk beside llama.cpp / ik_llama.cpp on the same weights (issue 14), not a test.
// Per bit width: mlxk's native backend on its own quantization of a bf16 model, and each peer's
// llama-bench on the GGUF of the same model quantized to the nearest type (tools/peers/quantize.sh:
// Q8_0, Q4_K, Q3_K, Q2_K, --pure), interleaved round by round so the machine's load drifts on all
// alike. Both measure as llama-bench does: pp512 = a 512-token prompt from an empty cache, tg128 =
// 128 greedy tokens from an (almost) empty cache; one sample per engine per round, medians over
// rounds. Decode is also given as the weights a token reads × tokens/s, as a share of the read
// bandwidth measured in the same round (the physical limit of a memory-bound decode).
//   node dist/benchmarks/peers-decode.js --models WORKDIR --gguf NAME [--peers /work/scratch/peers]
//        [--bits 8,4,3,2] [--rounds 3] [--threads 2] [--op-by-op] [--out FILE.md]
// --op-by-op adds mlxk with its decode layers run op by op (MLXK_FUSED_LAYERS=0) as a baseline row.
// WORKDIR holds mlxk's models q8, q4, q3, q2 (as benchmarks/decode.ts makes them); the peers'
// files are PEERS/gguf/<peer>/NAME-<TYPE>.gguf and PEERS/build/<peer>/bin/llama-bench.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBandwidth, threads } from '../lib/backend/native/addon.js';
import { NativeOps } from '../lib/backend/native/ops.js';
import { finishMachineInfo, machineInfo, machineLine } from '../lib/bench/machine.js';
import { processMemoryProbe } from '../lib/bench/memory.js';
import { spread } from '../lib/bench/stats.js';
import { runTrial, wallClock } from '../lib/bench/trial.js';
import { bytesPerToken, weightBytes } from '../lib/bench/weightBytes.js';
import { loadModel } from '../lib/models/load.js';

const PP = 512;
const TG = 128;
const GGUF_TYPE: Record<number, string> = { 8: 'Q8_0', 4: 'Q4_K', 3: 'Q3_K', 2: 'Q2_K' };

interface Speed {
  pp: number;
  tg: number;
}

interface Engine {
  label: string;
  /** null: mlxk itself. */
  bench: string | null;
  dir: string;
  /** mlxk only: extra environment of its child process. */
  env?: Record<string, string>;
  flags: string[];
}

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string): string => {
  const i = args.indexOf(`--${name}`);
  if (i >= 0 && args[i + 1] !== undefined) return args[i + 1]!;
  if (fallback === undefined) throw new Error(`peers-decode: --${name} is required (see the header of benchmarks/peers-decode.ts)`);
  return fallback;
};

/** In the child: load once, warm up, then pp512 and tg128 as llama-bench runs them. */
async function child(dir: string, vocab: number): Promise<void> {
  const { model } = await loadModel(dir, new NativeOps());
  const ids = Array.from({ length: PP }, (_, i) => (i * 7919 + 13) % vocab);
  const memory = processMemoryProbe();
  // Warm-up, unmeasured as llama-bench's is: a whole tg128, since V8 goes on optimizing the decode
  // loop's JavaScript through its first few hundred steps (a first tg128 ran ~10 % slower than the
  // next on tiny-kimi).
  await runTrial(model, ids.slice(0, 16), TG + 1, wallClock, memory);
  const pp = await runTrial(model, ids, 1, wallClock, memory);
  const tg = await runTrial(model, ids.slice(0, 1), TG + 1, wallClock, memory);
  const out: Speed = { pp: pp!.promptTokensPerSecond, tg: tg!.generationTokensPerSecond! };
  process.stdout.write(JSON.stringify(out));
}

function runMlxk(dir: string, nThreads: number, extra: Record<string, string> = {}): Speed {
  const vocab = Number((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size);
  const env: NodeJS.ProcessEnv = { ...process.env, MLXK_THREADS: String(nThreads) };
  delete env.MLXK_BACKEND;
  delete env.MLXK_ACTIVATION_BITS;
  delete env.MLXK_FUSED_LAYERS;
  Object.assign(env, extra);
  const json = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dir, String(vocab)], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  return JSON.parse(json) as Speed;
}

function runPeer(e: Engine, gguf: string, nThreads: number): Speed {
  const json = execFileSync(e.bench!, ['-m', gguf, '-p', String(PP), '-n', String(TG), '-t', String(nThreads), '-r', '1', '-o', 'json', ...e.flags], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 24 });
  const rows = JSON.parse(json) as { n_prompt: number; avg_ts: number }[];
  return { pp: rows.find((r) => r.n_prompt > 0)!.avg_ts, tg: rows.find((r) => r.n_prompt === 0)!.avg_ts };
}

async function main(): Promise<void> {
  if (args[0] === '--child') return child(args[1]!, Number(args[2]));
  const models = opt('models');
  const name = opt('gguf');
  const peers = opt('peers', '/work/scratch/peers');
  const bits = opt('bits', '8,4,3,2').split(',').map(Number);
  const rounds = Number(opt('rounds', '3'));
  const nThreads = Number(opt('threads', String(threads())));
  const out = opt('out', '');
  for (const b of bits) {
    if (!GGUF_TYPE[b]) throw new Error(`peers-decode: --bits ${b}: the peers' nearest types exist for 8, 4, 3 and 2 bits`);
    if (!existsSync(join(models, `q${b}`, 'config.json'))) throw new Error(`peers-decode: ${join(models, `q${b}`)} is missing: make it with mlxk quantize SRC ${join(models, `q${b}`)} --bits ${b}`);
  }
  const ik = join(peers, 'build', 'ik', 'bin', 'llama-bench');
  const mainline = join(peers, 'build', 'mainline', 'bin', 'llama-bench');
  // ik's speed path for MLA/MoE models (its recommended flags); -rtr repacks rows at load.
  const candidates: Engine[] = [
    { label: 'mlxk', bench: null, dir: '', flags: [] },
    ...(args.includes('--op-by-op') ? [{ label: 'mlxk, layers op by op', bench: null, dir: '', flags: [], env: { MLXK_FUSED_LAYERS: '0' } }] : []),
    { label: 'ik_llama.cpp', bench: ik, dir: 'ik', flags: ['-mla', '3', '-fa', '1', '-fmoe', '1'] },
    { label: 'ik_llama.cpp -rtr 1', bench: ik, dir: 'ik', flags: ['-mla', '3', '-fa', '1', '-fmoe', '1', '-rtr', '1'] },
    { label: 'llama.cpp', bench: mainline, dir: 'mainline', flags: [] },
  ];
  const ggufOf = (e: Engine, b: number) => join(peers, 'gguf', e.dir, `${name}-${GGUF_TYPE[b]}.gguf`);
  const engines = candidates.filter((e) => e.bench === null || (existsSync(e.bench) && bits.every((b) => existsSync(ggufOf(e, b)))));
  const machine = machineInfo();
  const samples = new Map<string, Speed[]>();
  const bandwidths: number[] = [];
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    bandwidths.push(readBandwidth(512e6, nThreads, 3));
    for (const b of bits) {
      for (const e of engines) {
        loads.push(loadavg()[0]!);
        const s = e.bench === null ? runMlxk(join(models, `q${b}`), nThreads, e.env) : runPeer(e, ggufOf(e, b), nThreads);
        const key = `${b}/${e.label}`;
        samples.set(key, [...(samples.get(key) ?? []), s]);
        console.log(`round ${r + 1} ${b}-bit ${e.label}: pp${PP} ${s.pp.toFixed(1)}, tg${TG} ${s.tg.toFixed(1)} tok/s (load ${loads.at(-1)!.toFixed(1)})`);
      }
    }
  }
  const done = finishMachineInfo(machine);
  const bw = spread(bandwidths).median;
  const med = (b: number, label: string, k: keyof Speed) => spread(samples.get(`${b}/${label}`)!.map((s) => s[k]));
  const fmt = (x: ReturnType<typeof spread>) => `${x.median.toFixed(1)} (${x.min.toFixed(1)}–${x.max.toFixed(1)})`;
  const lines = [
    '| bits | engine | file | MB | pp512 tok/s, median (min–max) | tg128 tok/s, median (min–max) | mlxk ÷ best peer: pp / tg | tg × weights per token → share of bandwidth |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const b of bits) {
    const perToken = bytesPerToken(weightBytes(join(models, `q${b}`)));
    const peerRows = engines.filter((e) => e.bench !== null);
    const bestPp = Math.max(...peerRows.map((e) => med(b, e.label, 'pp').median));
    const bestTg = Math.max(...peerRows.map((e) => med(b, e.label, 'tg').median));
    for (const e of engines) {
      const pp = med(b, e.label, 'pp');
      const tg = med(b, e.label, 'tg');
      const file = e.bench === null ? join(models, `q${b}`) : ggufOf(e, b);
      const mb = e.bench === null ? weightBytes(file).total / 1e6 : statSync(file).size / 1e6;
      const ratio = e.bench === null && peerRows.length ? `${(pp.median / bestPp).toFixed(2)}× / ${(tg.median / bestTg).toFixed(2)}×` : '';
      const share = e.bench === null ? `${((perToken * tg.median) / 1e9).toFixed(1)} GB/s → ${((100 * perToken * tg.median) / 1e9 / bw).toFixed(0)} %` : '';
      lines.push(`| ${b} | ${e.label} | ${e.bench === null ? `q${b} (MLX affine, group 64)` : GGUF_TYPE[b]} | ${mb.toFixed(1)} | ${fmt(pp)} | ${fmt(tg)} | ${ratio} | ${share} |`);
    }
  }
  const report = [
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${rounds} interleaved rounds, ${nThreads} threads for every engine; read bandwidth (same process, each round) median ${bw.toFixed(1)} GB/s (${bandwidths.map((x) => x.toFixed(1)).join(', ')}); 1-minute load average during the runs ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}.`,
    `Machine: ${machineLine(done)}.`,
    `Command: \`node dist/benchmarks/peers-decode.js ${args.join(' ')}\``,
    '',
    ...lines,
  ].join('\n');
  console.log(`\n${report}`);
  if (out) writeFileSync(out, `${report}\n`);
}

await main();

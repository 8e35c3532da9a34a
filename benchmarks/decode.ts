// Decode benchmark (not a test): tokens/s of a synthetic Kimi-K2-architecture model of
// 1–2 GB at 2, 3 and 4 bits, native vs mlx backend, in one run. Each (model, backend) is
// one child process that loads the model once (mlx takes minutes to load 3-bit weights: it
// repacks them to 8-bit codes) and then runs several repetitions of a fresh prompt + greedy
// decode through the library API (`LanguageModel.generate`, what `mlxk generate` runs); the
// table gives medians. Makes the models first when WORKDIR lacks them (`mlxk synth` then
// `mlxk quantize --bits B`; ~15 min once).
//   npm run build && node dist/benchmarks/decode.js [WORKDIR] [--out benchmarks/results/decode.md]
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBandwidth, threads } from '../lib/backend/native/addon.js';
import { LanguageModel } from '../lib/engine/languageModel.js';
import { bytesPerToken, weightBytes } from '../lib/bench/weightBytes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MLXK = join(REPO, 'bin', 'mlxk');
const BITS = [4, 3, 2] as const;
const PROMPT = 32;
const VOCAB = 32000;
/** Generated tokens per repetition: mlx decodes ~1–2 tokens/s here, so it gets fewer. */
const TOKENS = { native: 64, 'native-a16': 64, mlx: 8 } as const;
const REPS = { native: 5, 'native-a16': 3, mlx: 2 } as const;
const TARGET_SPEEDUP = 10;

const SYNTH = ['synth', 'kimi_k2', '--layers', '8', '--experts', '64', '--hidden', '2048', '--moe-intermediate', '1024', '--intermediate', '5632', '--vocab', String(VOCAB),
  '--heads', '16', '--set', 'q_lora_rank=512', '--set', 'kv_lora_rank=256', '--set', 'qk_nope_head_dim=64', '--set', 'qk_rope_head_dim=32', '--set', 'v_head_dim=64',
  '--set', 'num_experts_per_tok=8', '-q'];

type Variant = keyof typeof TOKENS;
const VARIANTS: Variant[] = ['native', 'native-a16', 'mlx'];

interface Rep {
  prompt: number;
  decode: number;
}

interface ChildResult {
  loadSeconds: number;
  reps: Rep[];
  loads: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function mlxk(args: string[], env: Record<string, string> = {}): string {
  const base = { ...process.env };
  delete base.MLXK_BACKEND;
  delete base.MLXK_ACTIVATION_BITS;
  return execFileSync(process.execPath, [MLXK, ...args], { encoding: 'utf8', env: { ...base, ...env }, maxBuffer: 1 << 26 });
}

function ensureModels(work: string): Record<number, string> {
  const src = join(work, 'src');
  const missing = BITS.some((b) => !existsSync(join(work, `q${b}`, 'config.json')));
  if (missing && !existsSync(join(src, 'config.json'))) {
    console.log(`making ${src}: mlxk ${SYNTH.join(' ')}`);
    mlxk([...SYNTH.slice(0, 2), src, ...SYNTH.slice(2)]);
  }
  const out: Record<number, string> = {};
  for (const b of BITS) {
    out[b] = join(work, `q${b}`);
    if (!existsSync(join(out[b]!, 'config.json'))) {
      console.log(`making ${out[b]}: mlxk quantize ${src} ${out[b]} --bits ${b}`);
      mlxk(['quantize', src, out[b]!, '--bits', String(b), '-q']);
    }
  }
  return out;
}

function cpuSummary(): string {
  try {
    const l = execFileSync('lscpu', { encoding: 'utf8' });
    const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'm').exec(l)?.[1]?.trim() ?? '?';
    const flags = field('Flags').split(' ');
    const simd = ['avx2', 'avx512f', 'avx512_vnni', 'avx512vbmi'].filter((f) => flags.includes(f)).join(', ');
    return `${field('Model name')}, ${field('CPU\\(s\\)')} CPUs (${field('Core\\(s\\) per socket')} cores/socket, ${field('Thread\\(s\\) per core')} thread/core), L3 ${field('L3 cache')}, ${simd}`;
  } catch {
    return `${cpus()[0]?.model ?? '?'}, ${cpus().length} CPUs`;
  }
}

/** In the child: load once, then `reps` × (fresh sequence, prompt, greedy decode). */
async function child(model: string, variant: Variant, ids: number[]): Promise<void> {
  const lm = await LanguageModel.load(model, { backend: variant === 'mlx' ? 'mlx' : 'native', ...(variant === 'native-a16' ? { activationBits: 16 as const } : {}) });
  const out: ChildResult = { loadSeconds: lm.loadSeconds, reps: [], loads: [] };
  for (let r = 0; r < REPS[variant]; r++) {
    const g = await lm.generate({ ids }, { temperature: 0, maxTokens: TOKENS[variant], stopTokens: [] });
    out.reps.push({ prompt: g.stats.promptTokensPerSecond, decode: g.stats.generationTokensPerSecond });
    out.loads.push(loadavg()[0]!);
  }
  process.stdout.write(JSON.stringify(out));
}

function main(): void {
  const args = process.argv.slice(2);
  const ids = Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 13) % VOCAB);
  if (args[0] === '--child') {
    void child(args[1]!, args[2] as Variant, ids);
    return;
  }
  const outIdx = args.indexOf('--out');
  const outPath = outIdx >= 0 ? args[outIdx + 1]! : join(REPO, 'benchmarks', 'results', 'decode.md');
  const work = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--out') ?? '/tmp/mlxk-bench-decode';
  const models = ensureModels(work);

  const started = Date.now();
  const loads = [loadavg()[0]!];
  const bandwidth = readBandwidth(512e6, threads(), 3);
  const results = new Map<string, ChildResult>();
  for (const b of BITS) {
    for (const v of VARIANTS) {
      const base = { ...process.env };
      delete base.MLXK_BACKEND;
      delete base.MLXK_ACTIVATION_BITS;
      const json = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', models[b]!, v], { encoding: 'utf8', env: base, maxBuffer: 1 << 26 });
      const r = JSON.parse(json) as ChildResult;
      results.set(`${b}/${v}`, r);
      loads.push(...r.loads);
      console.log(`${b}-bit ${v}: load ${r.loadSeconds.toFixed(2)} s; ${r.reps.map((x) => `prompt ${x.prompt.toFixed(1)}, decode ${x.decode.toFixed(2)}`).join('; ')} tok/s; load average ${r.loads.map((l) => l.toFixed(1)).join(' ')}`);
    }
  }
  const minutes = (Date.now() - started) / 60000;
  const stat = (b: number, v: Variant, k: keyof Rep) => median(results.get(`${b}/${v}`)!.reps.map((x) => x[k]));

  const lines = [
    '# Decode throughput: synthetic Kimi-K2-architecture model, native vs mlx backend',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`node dist/benchmarks/decode.js WORKDIR\` (${minutes.toFixed(1)} min, models already made) on ${cpuSummary()}; Node ${process.version}.`,
    `The 2 CPUs are shared with other jobs: the 1-minute load average was ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} during the run (median ${median(loads).toFixed(1)}), so the absolute figures are lower and noisier than on an idle machine; both backends ran under it.`,
    `Native kernels: ${threads()} threads; memory read bandwidth measured at the start: ${bandwidth.toFixed(1)} GB/s.`,
    '',
    'Model: `mlxk ' + SYNTH.slice(0, 2).join(' ') + ' SRC ' + SYNTH.slice(2).join(' ') + '` (8 layers, the first dense, 7 MoE layers of 64 experts,',
    '8 routed + 1 shared per token, MLA with q/kv LoRA, vocab 32000; 3.07 B parameters, 6.1 GB bf16), then `mlxk quantize SRC q$B --bits $B` (group 64).',
    `Each row: one process per model and backend loads the model, then runs \`LanguageModel.generate({ ids: <${PROMPT} ids> }, { temperature: 0, maxTokens: N })\``,
    `repeatedly (N = ${TOKENS.native} native, ${TOKENS.mlx} mlx; ${REPS.native} repetitions native, ${REPS['native-a16']} with 16-bit activations, ${REPS.mlx} mlx); medians. Decode tokens/s counts the tokens after the first.`,
    '"Weights per token": bytes one decoded token reads (all but the routed experts, 8/64 of those, one embedding row); "effective GB/s" = that × decode tokens/s.',
    '',
    `| bits | size | weights per token | backend | load | prompt tokens/s | decode tokens/s | native ÷ mlx (target: decode ≥ ${TARGET_SPEEDUP}×) | effective GB/s |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const b of BITS) {
    const wb = weightBytes(models[b]!);
    const perToken = bytesPerToken(wb);
    const total = wb.total;
    const mlxDecode = stat(b, 'mlx', 'decode');
    const mlxPrompt = stat(b, 'mlx', 'prompt');
    for (const v of VARIANTS) {
      const d = stat(b, v, 'decode');
      const p = stat(b, v, 'prompt');
      const name = v === 'mlx' ? 'mlx' : v === 'native' ? 'native (int8 activations, default)' : 'native (16-bit activations)';
      const met = d / mlxDecode >= TARGET_SPEEDUP ? 'met' : 'NOT met';
      const ratio = v === 'mlx' ? '1×' : `decode ${(d / mlxDecode).toFixed(1)}× (${met}), prompt ${(p / mlxPrompt).toFixed(1)}×`;
      const load = results.get(`${b}/${v}`)!.loadSeconds;
      lines.push(`| ${b} | ${(total / 1e9).toFixed(2)} GB | ${(perToken / 1e6).toFixed(0)} MB | ${name} | ${load < 1 ? `${(load * 1000).toFixed(0)} ms` : `${load.toFixed(1)} s`} | ${p.toFixed(1)} | ${d.toFixed(2)} | ${ratio} | ${((perToken * d) / 1e9).toFixed(1)} |`);
    }
  }
  const text = `${lines.join('\n')}\n`;
  writeFileSync(outPath, text);
  console.log(text);
}

main();

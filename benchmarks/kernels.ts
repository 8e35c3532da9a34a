// Kernel benchmark (not a test): memory read bandwidth, quantized GEMV GB/s per bit
// width as a share of it, quantized GEMM GFLOP/s at M = 512 against float32 sgemm
// through MLX (OpenBLAS), and MLX's quantizedMatmul GEMV as the baseline to beat.
// Every figure is the median of several repetitions in this one run.
//   npm run build && node dist/benchmarks/kernels.js [--out benchmarks/results/kernels.md]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { denseMatmul, isa, qmatmul, readBandwidth, setThreads, threads, type QuantTensorRef } from '../lib/backend/native/addon.js';
import { loadMlx } from '../lib/backend/mlx/load.js';
import { f32ToBf16Bits } from '../lib/io/dtype.js';
import { randomQuantMatrix } from '../lib/bench/randomQuant.js';
import { SUPPORTED_BITS, type Bits } from '../lib/quant/affine.js';

const K = 4096;
const N = 14336;
const GS = 64;
const GEMM_M = 512;
const GEMV_WORKING_SET = 256e6; // bytes cycled through per GEMV pass, 8× the 32 MB L3
const REPS = 7;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeIt(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Random packed weights with small bf16 scales and biases, and the views the MLX comparison writes out. */
function quantMatrix(bits: Bits): { ref: QuantTensorRef; bytes: number; w: Uint8Array; s: Uint8Array; b: Uint8Array } {
  const ref = randomQuantMatrix(N, K, bits, GS);
  return { ref, bytes: ref.weights.length + 2 * ref.scales.length, w: ref.weights, s: ref.scales, b: ref.biases };
}

/** A safetensors file for mx.load (MLX cannot take TypedArrays directly). */
function writeSafetensors(path: string, tensors: Record<string, { dtype: string; shape: number[]; data: Uint8Array }>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...Object.values(tensors).map((t) => t.data)]));
}

function cpuSummary(): string {
  try {
    const out = execFileSync('lscpu', { encoding: 'utf8' });
    const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(out)?.[1]?.trim() ?? '?';
    const flags = field('Flags').split(/\s+/);
    const simd = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512vbmi', 'avx512_bf16', 'avx_vnni', 'asimddp'].filter((f) => flags.includes(f));
    return `${field('Model name')} (family ${field('CPU family')}, model ${field('Model')}), ${field('CPU\\(s\\)')} CPUs, L3 ${field('L3 cache')}; SIMD flags: ${simd.join(' ')}`;
  } catch {
    return 'lscpu unavailable';
  }
}

function main(): void {
  const outPath = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : undefined;
  const mx = loadMlx().core;
  const lines: string[] = [];
  const log = (s = '') => {
    console.log(s);
    lines.push(s);
  };
  const started = Date.now();
  const nThreads = threads();

  log('# Native kernel benchmark');
  log();
  log(`- date: ${new Date().toISOString()}`);
  log(`- machine: ${cpuSummary()}`);
  log(`- node ${process.version}; kernel set \`${isa()}\`, ${nThreads} threads (default = physical cores)`);
  log(`- command: \`npm run build && node dist/benchmarks/kernels.js --out benchmarks/results/kernels.md\``);
  log(`- load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other jobs share this machine's 2 cores)`);
  log(`- bandwidth and GEMV: medians over ${REPS} rounds that each measure every figure once; GEMM: medians of 3 rounds`);
  log();

  // 1 + 2. Read bandwidth and GEMV, measured in rounds: each round takes every figure once,
  // so load from other jobs on this shared machine hits all of them alike, and each GEMV
  // is compared with the bandwidth measured in the same round.
  const dir = mkdtempSync(join(tmpdir(), 'mlxk-bench-'));
  const x1 = Float32Array.from({ length: K }, () => Math.random() - 0.5);
  const xm = Float32Array.from({ length: GEMM_M * K }, () => Math.random() - 0.5);
  const flops = 2 * GEMM_M * N * K;
  const sets = SUPPORTED_BITS.map((bits) => {
    const first = quantMatrix(bits);
    const copies = Math.max(2, Math.ceil(GEMV_WORKING_SET / first.bytes));
    return { bits, first, mats: [first, ...Array.from({ length: copies - 1 }, () => quantMatrix(bits))] };
  });
  const y = new Float32Array(N);
  const gemvPass = (set: (typeof sets)[number], t: number, activationBits: 8 | 16) => {
    setThreads(t);
    const sec = timeIt(() => set.mats.forEach((m) => qmatmul(x1, 1, m.ref, y, { activationBits }))) / set.mats.length;
    return set.first.bytes / sec / 1e9;
  };
  for (const set of sets) gemvPass(set, nThreads, 8); // warm-up
  const bw: Record<number, number[]> = { 1: [], [nThreads]: [] };
  const rounds = sets.map(() => ({ g1: [] as number[], gN: [] as number[], g16: [] as number[], r1: [] as number[], rN: [] as number[] }));
  for (let rep = 0; rep < REPS; rep++) {
    const b1 = readBandwidth(256 << 20, 1, 2);
    const bN = readBandwidth(256 << 20, nThreads, 2);
    bw[1]!.push(b1);
    if (nThreads !== 1) bw[nThreads]!.push(bN);
    sets.forEach((set, i) => {
      const r = rounds[i]!;
      const g1 = gemvPass(set, 1, 8);
      const gN = gemvPass(set, nThreads, 8);
      r.g1.push(g1);
      r.gN.push(gN);
      r.g16.push(gemvPass(set, nThreads, 16));
      r.r1.push(g1 / b1);
      r.rN.push(gN / bN);
    });
  }
  log('## Memory read bandwidth (256 MiB buffer, AVX loads + prefetch)');
  log();
  log('| threads | GB/s (median) | min–max over the rounds |');
  log('|---:|---:|---|');
  for (const t of Object.keys(bw)) {
    const xs = bw[Number(t)]!;
    log(`| ${t} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)} |`);
  }
  log();

  const gemv: { bits: Bits; gbs: number; gbsRange: string; gbs1: number; gbs16: number; share1: number; shareN: number; mlx?: number }[] = [];
  const gemm: { bits: Bits; gflops: number; gflops16: number }[] = [];
  const ym = new Float32Array(GEMM_M * N);
  const gemmRate = (ref: QuantTensorRef, activationBits: 8 | 16) => flops / timeIt(() => qmatmul(xm, GEMM_M, ref, ym, { activationBits })) / 1e9;
  const gemmRounds = sets.map(() => ({ a8: [] as number[], a16: [] as number[] }));
  for (const set of sets) gemmRate(set.first.ref, 8); // warm-up
  for (let rep = 0; rep < 3; rep++) {
    sets.forEach((set, i) => {
      gemmRounds[i]!.a8.push(gemmRate(set.first.ref, 8));
      gemmRounds[i]!.a16.push(gemmRate(set.first.ref, 16));
    });
  }
  sets.forEach((set, i) => {
    const r = rounds[i]!;
    gemm.push({ bits: set.bits, gflops: median(gemmRounds[i]!.a8), gflops16: median(gemmRounds[i]!.a16) });
    const row: (typeof gemv)[number] = { bits: set.bits, gbs: median(r.gN), gbsRange: `${Math.min(...r.gN).toFixed(0)}–${Math.max(...r.gN).toFixed(0)}`, gbs1: median(r.g1), gbs16: median(r.g16), share1: median(r.r1), shareN: median(r.rN) };
    const { bits, first } = set;
    // MLX quantizedMatmul GEMV where 0.0.7 supports the width (CPU: a scalar loop).
    if (bits === 2 || bits === 4 || bits === 8) {
      const path = join(dir, `q${bits}.safetensors`);
      writeSafetensors(path, {
        w: { dtype: 'U32', shape: [N, (K * bits) / 32], data: first.w },
        s: { dtype: 'BF16', shape: [N, K / GS], data: first.s },
        b: { dtype: 'BF16', shape: [N, K / GS], data: first.b },
      });
      const t = mx.load(path) as unknown as Record<string, never>;
      const xa = mx.array([Array.from(x1)], mx.float32);
      const run = () => mx.eval(mx.quantizedMatmul(xa, t.w, t.s, t.b, true, GS, bits));
      run();
      row.mlx = first.bytes / median(Array.from({ length: 3 }, () => timeIt(run))) / 1e9;
      rmSync(path);
    }
    gemv.push(row);
  });
  setThreads(nThreads);

  // 3. Dense bf16 weights (non-quantized layers): GEMV and GEMM through our denseMatmul.
  const bf16 = new Uint16Array(N * K);
  for (let i = 0; i < bf16.length; i++) bf16[i] = f32ToBf16Bits((Math.random() - 0.5) * 0.1);
  const dense = { weights: bf16, n: N, k: K, dtype: 'bf16' as const };
  const yd = new Float32Array(N);
  denseMatmul(x1, 1, dense, yd);
  const denseGbs = (N * K * 2) / median(Array.from({ length: REPS }, () => timeIt(() => denseMatmul(x1, 1, dense, yd)))) / 1e9;
  const ydm = new Float32Array(GEMM_M * N);
  denseMatmul(xm, GEMM_M, dense, ydm);
  const denseGflops = flops / median(Array.from({ length: 3 }, () => timeIt(() => denseMatmul(xm, GEMM_M, dense, ydm)))) / 1e9;

  // 4. float32 sgemm through MLX (OpenBLAS) on the same shape: x [512, 4096] · W[14336, 4096]ᵀ.
  const sgemmPath = join(dir, 'f32.safetensors');
  writeSafetensors(sgemmPath, {
    w: { dtype: 'F32', shape: [N, K], data: new Uint8Array(Float32Array.from({ length: N * K }, () => Math.random() - 0.5).buffer) },
    x: { dtype: 'F32', shape: [GEMM_M, K], data: new Uint8Array(xm.buffer) },
  });
  const f = mx.load(sgemmPath) as unknown as Record<string, never>;
  const wt = mx.transpose(f.w);
  const sgemm = () => mx.eval(mx.matmul(f.x, wt));
  sgemm();
  const sgemmGflops = flops / median(Array.from({ length: 3 }, () => timeIt(sgemm))) / 1e9;
  const xv = mx.array([Array.from(x1)], mx.float32);
  const sgemv = () => mx.eval(mx.matmul(xv, wt));
  sgemv();
  const sgemvGbs = (N * K * 4) / median(Array.from({ length: REPS }, () => timeIt(sgemv))) / 1e9;
  rmSync(dir, { recursive: true, force: true });

  log(`## Quantized GEMV, ${K} → ${N} (x[1, ${K}] · W[${N}, ${K}]ᵀ), group size ${GS}, bf16 scales`);
  log();
  log(`GB/s of weight bytes streamed (packed weights + scales + biases), cycling through ≥ ${GEMV_WORKING_SET / 1e6} MB of matrices so every byte comes from DRAM.`);
  log(`Shares are medians of GEMV GB/s ÷ read bandwidth with the same thread count in the same round. Targets: ≥ 80 % at 4-bit, ≥ 50 % at 2/3-bit;`);
  log(`llama.cpp (2 threads, this machine type): q4_K 25 GB/s, q8_0 20, q3_K 13, q2_K 13.`);
  log();
  log(`| bits | MB/matrix | 1 thread GB/s | % of 1-thread bw | ${nThreads} threads GB/s (range) | % of ${nThreads}-thread bw | target | ${nThreads} threads, 16-bit activations | MLX quantizedMatmul GB/s | speed-up vs MLX |`);
  log('|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const r of gemv) {
    const target = r.bits === 4 ? '≥ 80 %' : r.bits <= 3 ? '≥ 50 %' : '—';
    const mb = ((N * K * r.bits) / 8 + (4 * N * K) / GS) / 1e6;
    log(
      `| ${r.bits} | ${mb.toFixed(1)} | ${r.gbs1.toFixed(1)} | ${(100 * r.share1).toFixed(0)} % | ${r.gbs.toFixed(1)} (${r.gbsRange}) | ${(100 * r.shareN).toFixed(0)} % | ${target} | ${r.gbs16.toFixed(1)} | ${r.mlx ? r.mlx.toFixed(2) : 'n/a (no ' + r.bits + '-bit in MLX 0.0.7)'} | ${r.mlx ? (r.gbs / r.mlx).toFixed(0) + '×' : '—'} |`,
    );
  }
  const bwAll = median(bw[nThreads]!);
  log(`| bf16 dense (denseMatmul) | ${((N * K * 2) / 1e6).toFixed(1)} | | | ${denseGbs.toFixed(1)} | ≈ ${((100 * denseGbs) / bwAll).toFixed(0)} % | | | | |`);
  log(`| f32 sgemv (MLX/OpenBLAS) | ${((N * K * 4) / 1e6).toFixed(1)} | | | ${sgemvGbs.toFixed(1)} | ≈ ${((100 * sgemvGbs) / bwAll).toFixed(0)} % | | | | |`);
  log();
  log(`## Quantized GEMM, M = ${GEMM_M}: x[${GEMM_M}, ${K}] · W[${N}, ${K}]ᵀ, ${nThreads} threads`);
  log();
  log(`Targets: llama.cpp (2 threads) q4_K 117 GFLOP/s, q2_K 135, q3_K 86, bf16 88; OpenBLAS sgemm ≈ 110.`);
  log();
  log('| bits | GFLOP/s | target (nearest llama.cpp type) | vs MLX f32 sgemm | GFLOP/s, 16-bit activations |');
  log('|---:|---:|---|---:|---:|');
  const targets: Partial<Record<Bits, string>> = { 2: '≥ 135 (q2_K)', 3: '≥ 86 (q3_K)', 4: '≥ 117 (q4_K)', 5: '≥ 117 (q4_K)', 6: '≥ 117 (q4_K)', 8: '≥ 117 (q4_K)' };
  for (const r of gemm) log(`| ${r.bits} | ${r.gflops.toFixed(0)} | ${targets[r.bits]} | ${(r.gflops / sgemmGflops).toFixed(1)}× | ${r.gflops16.toFixed(0)} |`);
  log(`| bf16 dense (denseMatmul, float32 math) | ${denseGflops.toFixed(0)} | ≥ 88 (bf16) | ${(denseGflops / sgemmGflops).toFixed(1)}× | |`);
  log(`| f32 sgemm (MLX → OpenBLAS) | ${sgemmGflops.toFixed(0)} | ≈ 110 | 1.0× | |`);
  log();
  log(`Run time: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  if (outPath) writeFileSync(outPath, lines.join('\n') + '\n');
}

main();

// Quantized products over many activation rows (a batched decode step at M = 5…8, a prompt chunk
// at M = 512, an expert's share of one at M ≈ 8…64) on one thread, not a test: G multiply-adds
// per second of the native qmatmul per bit width and row count, at one weight shape. Each cell is
// the fastest of several calls (the machine's other tenants only ever slow a call down).
//   npm run build && node dist/benchmarks/gemm-rows.js [--bits 3,4,5,6] [--m 8,16,32,48,64,256]
//        [--shape 1024x2048] [--out FILE.md]
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { isa, qmatmul, setThreads } from '../lib/backend/native/addon.js';
import { randomQuantMatrix } from '../lib/bench/randomQuant.js';
import { SUPPORTED_BITS, type Bits } from '../lib/quant/affine.js';

const GS = 64;
const CALLS = 6;

function list(flag: string | undefined, fallback: string): number[] {
  const values = (flag ?? fallback).split(',').map(Number);
  for (const v of values) if (!Number.isInteger(v) || v < 1) throw new Error(`gemm-rows: "${flag}" is not a comma-separated list of positive integers`);
  return values;
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const bits = list(opt('bits'), '3,4,5,6') as Bits[];
  for (const b of bits) if (!SUPPORTED_BITS.includes(b)) throw new Error(`gemm-rows: --bits ${b} is not one of ${SUPPORTED_BITS.join(', ')}`);
  const ms = list(opt('m'), '8,16,32,48,64,256');
  const shape = /^(\d+)x(\d+)$/.exec(opt('shape') ?? '1024x2048');
  if (!shape || Number(shape[2]) % GS !== 0) throw new Error(`gemm-rows: --shape must be NxK with K a multiple of ${GS}`);
  const [n, k] = [Number(shape[1]), Number(shape[2])];
  setThreads(1);
  const load0 = loadavg()[0]!;
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, native addon ${isa()} × 1 thread, [${n}, ${k}], group size ${GS}, bf16 scales, 8-bit activations; fastest of ${CALLS} calls per cell, G multiply-adds/s.`,
    '',
    `| M | ${bits.map((b) => `${b}-bit`).join(' | ')} |`,
    `|---|${bits.map(() => '---').join('|')}|`,
  ];
  const weights = bits.map((b) => randomQuantMatrix(n, k, b, GS));
  for (const m of ms) {
    const x = Float32Array.from({ length: m * k }, () => Math.random() * 2 - 1);
    const out = new Float32Array(m * n);
    const cells = weights.map((w) => {
      let best = Infinity;
      for (let i = 0; i < CALLS; i++) {
        const t0 = process.hrtime.bigint();
        qmatmul(x, m, w, out);
        best = Math.min(best, Number(process.hrtime.bigint() - t0));
      }
      return ((m * n * k) / best).toFixed(1);
    });
    lines.push(`| ${m} | ${cells.join(' | ')} |`);
    console.error(lines[lines.length - 1]);
  }
  lines.push('', `1-minute load average ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end.`);
  const text = lines.join('\n') + '\n';
  const outFile = opt('out');
  if (outFile) writeFileSync(outFile, text);
  process.stdout.write(text);
}

main();

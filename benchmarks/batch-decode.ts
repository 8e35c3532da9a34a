// Batched decode on one model (issue 14), not a test: B = 1, 2, 4, 8 sequences decoded together
// through forwardBatch (what `serve` runs with B active requests), interleaved by round, with the
// read bandwidth measured in the same process. Per B: aggregate tokens/s and its ratio to B = 1
// of the same round (and process CPU time per token, which a loaded machine disturbs less: with
// MLXK_THREADS=1 it is the work a token costs); at B = 1, the weights one token reads × tokens/s as a share of the bandwidth.
// Routed experts: the distinct experts each MoE layer reads per step at each B (counted over a few
// steps on a second instance of the model whose ops record the routes), hence the weight bytes a
// step reads and the ceiling batching has when decode is bound by those reads:
// B × bytes(B = 1) ÷ bytes(B).
// --context N: the caches are first filled to N tokens (rows written straight into the caches,
// no model run) and the peak resident set of the decode at that context is reported.
//   npm run build && node dist/benchmarks/batch-decode.js MODEL_DIR [--sizes 1,2,4,8] [--tokens 16] [--rounds 3] [--context 0]
import { loadavg } from 'node:os';
import { readBandwidth, threads } from '../lib/backend/native/addon.js';
import { NativeOps } from '../lib/backend/native/ops.js';
import { processMemoryProbe } from '../lib/bench/memory.js';
import { weightBytes } from '../lib/bench/weightBytes.js';
import { Sampler } from '../lib/engine/sampler.js';
import type { KvCache } from '../lib/engine/kvCache.js';
import { loadModel } from '../lib/models/load.js';
import type { CausalLM } from '../lib/models/model.js';
import type { ExpertWeights, Route, Tensor } from '../lib/backend/ops.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!dir) throw new Error('usage: batch-decode.js MODEL_DIR [--sizes 1,2,4,8] [--tokens N] [--rounds R] [--context N]');
const SIZES = opt('sizes', '1,2,4,8').split(',').map(Number);
const TOKENS = Number(opt('tokens', '16'));
const ROUNDS = Number(opt('rounds', '3'));
const CONTEXT = Number(opt('context', '0'));
const PROMPT = 32;

/** Distinct experts per MoE layer per decode step at B sequences (mean over `steps` steps). */
async function distinctExperts(counting: CausalLM, seen: number[], B: number, steps: number): Promise<number> {
  const V = counting.info.vocabSize;
  const caches = Array.from({ length: B }, () => counting.newCache());
  const prompts = caches.map((_, b) => Array.from({ length: PROMPT + 4 * b }, (_, i) => (i * 7919 + 13 * b + 1) % V));
  const greedy = new Sampler({ temperature: 0 });
  let logits = counting.ops.read(counting.forwardBatch(caches.map((cache, b) => ({ ids: prompts[b]!, cache }))));
  seen.length = 0;
  for (let s = 0; s < steps; s++) {
    const next = caches.map((_, b) => greedy.sample(logits.subarray(b * V, (b + 1) * V)));
    logits = counting.ops.read(counting.forwardBatch(caches.map((cache, b) => ({ ids: [next[b]!], cache }))));
    await counting.ops.reclaim();
  }
  return seen.reduce((a, n) => a + n, 0) / Math.max(1, seen.length);
}

/** Fills a cache to `n` tokens with small random rows (what a prompt would leave; no model run). */
function fill(model: CausalLM, cache: KvCache, n: number): void {
  const ops = model.ops;
  const per = cache.elementsPerToken;
  const block = 256;
  for (let done = cache.length; done < n; ) {
    const rows = Math.min(block, n - done);
    for (let l = 0; l < cache.numLayers; l++) {
      const shape = cache.kind === 'mla' ? [[rows, 1, per]] : [[rows, 1, per / 2], [rows, 1, per / 2]];
      cache.update(l, shape.map((s) => ops.constant(Float32Array.from({ length: s[0]! * s[2]! }, () => (Math.random() - 0.5) * 0.1), s)));
    }
    done += rows;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const { model } = await loadModel(dir!, new NativeOps());
  // The second instance: its moe calls record how many distinct experts the step's tokens picked
  // (op by op: a fused decode layer routes inside the addon).
  const seen: number[] = [];
  let recording = false;
  const counting = (await loadModel(dir!, new Proxy(new NativeOps({ fusedLayers: false }), {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop !== 'moe') return v.bind(target);
      return (x: Tensor, route: Route, experts: ExpertWeights) => {
        if (recording) seen.push(new Set(route.indices).size);
        return target.moe(x, route, experts);
      };
    },
  }))).model;
  // Tokens picked as generate and serve pick them greedily (a closure-per-element reduce cost ~0.6 ms per row at 32000 logits).
  const greedy = new Sampler({ temperature: 0 });
  const V = model.info.vocabSize;
  const loads = [loadavg()[0]!];
  const bandwidth = readBandwidth(512e6, threads(), 3);
  const rates = new Map<number, number[]>(SIZES.map((b) => [b, []]));
  const cpuPerToken = new Map<number, number[]>(SIZES.map((b) => [b, []]));
  const ratios = new Map<number, number[]>(SIZES.map((b) => [b, []]));
  const probe = processMemoryProbe();
  let peak = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const round = new Map<number, number>();
    for (const B of SIZES) {
      const caches = Array.from({ length: B }, () => model.newCache());
      // Prompts of different lengths, prefilled together as one batched step.
      const prompts = caches.map((_, b) => Array.from({ length: PROMPT + 4 * b }, (_, i) => (i * 7919 + 13 * b + 1) % V));
      let logits = model.ops.read(model.forwardBatch(caches.map((cache, b) => ({ ids: prompts[b]!, cache }))));
      if (CONTEXT > 0) for (const c of caches) fill(model, c, CONTEXT);
      await model.ops.reclaim();
      probe.reset();
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      for (let s = 0; s < TOKENS; s++) {
        const next = caches.map((_, b) => greedy.sample(logits.subarray(b * V, (b + 1) * V)));
        logits = model.ops.read(model.forwardBatch(caches.map((cache, b) => ({ ids: [next[b]!], cache }))));
        await model.ops.reclaim();
      }
      const rate = (B * TOKENS) / ((performance.now() - t0) / 1000);
      const cpu = process.cpuUsage(cpu0);
      cpuPerToken.get(B)!.push((cpu.user + cpu.system) / 1000 / (B * TOKENS));
      peak = Math.max(peak, probe.peak());
      rates.get(B)!.push(rate);
      round.set(B, rate);
      loads.push(loadavg()[0]!);
    }
    for (const B of SIZES) if (round.has(1)) ratios.get(B)!.push(round.get(B)! / round.get(1)!);
    console.error(`round ${r + 1}: ${SIZES.map((B) => `B ${B} ${round.get(B)!.toFixed(1)} tok/s`).join(', ')}`);
  }
  const wb = weightBytes(dir!);
  const experts = new Map<number, number>();
  recording = true;
  for (const B of SIZES) experts.set(B, wb.topK > 0 ? await distinctExperts(counting, seen, B, 8) : 0);
  recording = false;
  const moeLayers = seen.length / 8;
  const stepBytes = (B: number) => wb.fixed + moeLayers * experts.get(B)! * wb.perExpert;
  const perToken = wb.fixed + moeLayers * wb.topK * wb.perExpert;
  const lines = [
    `model ${dir}; ${threads()} threads; read bandwidth ${bandwidth.toFixed(1)} GB/s (readBandwidth(512e6, ${threads()}, 3), same process); weights read per token ${(perToken / 1e6).toFixed(0)} MB; ${TOKENS} decode steps × ${ROUNDS} rounds${CONTEXT ? `; caches filled to ${CONTEXT} tokens` : ''}; 1-min load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    '',
    '| B | aggregate tokens/s (median) | × B = 1, same round (median) | weights GB/s at B = 1 → share of bandwidth | routed experts read per MoE layer per step | weights read per step | ceiling if bound by weight reads: B × bytes(1) ÷ bytes(B) | process CPU ms per token (median) → B = 1 ÷ B |',
    '|---|---|---|---|---|---|---|---|',
    ...SIZES.map((B) => {
      const rate = median(rates.get(B)!);
      const share = B === 1 ? `${((rate * perToken) / 1e9).toFixed(1)} GB/s → ${((100 * rate * perToken) / 1e9 / bandwidth).toFixed(0)} %` : '';
      const ceiling = SIZES.includes(1) ? `${((B * stepBytes(1)) / stepBytes(B)).toFixed(2)}×` : '—';
      return `| ${B} | ${rate.toFixed(1)} | ${ratios.get(B)!.length ? median(ratios.get(B)!).toFixed(2) : '—'} | ${share} | ${experts.get(B)!.toFixed(1)} | ${(stepBytes(B) / 1e6).toFixed(0)} MB | ${ceiling} | ${median(cpuPerToken.get(B)!).toFixed(3)} → ${(median(cpuPerToken.get(SIZES[0]!)!) / median(cpuPerToken.get(B)!)).toFixed(2)}× |`;
    }),
  ];
  if (CONTEXT > 0) lines.push('', `peak resident set during decode (${probe.method}): ${(peak / 2 ** 20).toFixed(0)} MiB`);
  console.log(lines.join('\n'));
}

void main();

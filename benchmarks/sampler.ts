// Sampler cost per token (issue 14), not a test: `Sampler.sample` over one logits row for a few
// settings, median of rounds of draws. --against DIST_SAMPLER loads a second build's sampler.js
// (e.g. a copy of another commit's dist/lib/engine/sampler.js) and runs both interleaved, so the
// ratio is from one process under the same load.
//   npm run build && node dist/benchmarks/sampler.js [--vocab 32000] [--against PATH]
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Sampler, type SamplingOptions } from '../lib/engine/sampler.js';
import { normal, rng } from '../test/helpers.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const V = Number(opt('vocab') ?? 32000);
const against = opt('against');
const DRAWS = 40;
const ROUNDS = 5;

type SamplerClass = new (o: SamplingOptions) => { sample(logits: Float32Array): number };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const builds: [string, SamplerClass][] = [['this build', Sampler]];
  if (against) builds.unshift([against, ((await import(pathToFileURL(resolve(against)).href)) as { Sampler: SamplerClass }).Sampler]);
  const logits = normal(V, 3, rng(5));
  const cases: SamplingOptions[] = [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.7, topK: 40 }, { temperature: 0.7, topP: 0.9 }, { temperature: 1, topK: 50, topP: 0.95, minP: 0.05 }];
  console.log(`vocabulary ${V}, normal(σ 3) logits; median of ${ROUNDS} × ${DRAWS} draws; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`\n| settings | ${builds.map(([name]) => `${name} ms`).join(' | ')}${against ? ' | × |' : ' |'}`);
  console.log(`|---|${builds.map(() => '---|').join('')}${against ? '---|' : ''}`);
  for (const o of cases) {
    const times = builds.map((): number[] => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [b, [, Cls]] of builds.entries()) {
        const s = new Cls({ ...o, seed: 1 });
        const t0 = performance.now();
        for (let i = 0; i < DRAWS; i++) s.sample(logits);
        times[b]!.push((performance.now() - t0) / DRAWS);
      }
    }
    const med = times.map(median);
    console.log(`| ${JSON.stringify(o)} | ${med.map((t) => t.toFixed(3)).join(' | ')}${against ? ` | ${(med[0]! / med[1]!).toFixed(1)} |` : ' |'}`);
  }
}

void main();

// `mlxk perplexity` results as text lines and a JSON object.
import type { EvalData } from './data.js';
import type { MachineInfo } from './machine.js';
import type { PerplexityResult } from './perplexity.js';

export interface PerplexityReport {
  command: string;
  model: string;
  baseline: string | null;
  backend: string;
  data: { file: string; sha256: string; chars: number; tokens: number; windowsAvailable: number; tailDropped: number };
  machine: MachineInfo;
  result: PerplexityResult;
}

export function dataSummary(d: EvalData, windowsAvailable: number, tailDropped: number): PerplexityReport['data'] {
  return { file: d.file, sha256: d.sha256, chars: d.chars, tokens: d.ids.length, windowsAvailable, tailDropped };
}

/** ΔPPL in percent of the baseline's. */
export function deltaPercent(ppl: number, base: number): number {
  return ((ppl - base) / base) * 100;
}

export function perplexityLines(r: PerplexityReport): string[] {
  const x = r.result;
  const m = x.models[0]!;
  const lines = [
    `${x.partial ? 'PARTIAL (interrupted): ' : ''}perplexity ${m.ppl.toFixed(3)} ± ${m.se.toFixed(3)} (mean NLL ${m.meanNll.toFixed(4)} nats) on ${r.data.file}`,
    `${x.windows}${x.windows < r.data.windowsAvailable ? ` of ${r.data.windowsAvailable}` : ''} windows × ${x.seqLen} tokens, ${x.scoredTokens} scored; ${r.data.tokens} tokens in the file, ${r.data.tailDropped} in the dropped tail`,
  ];
  if (x.baseline && m.kl) {
    lines.push(`baseline ${r.baseline}: perplexity ${x.baseline.ppl.toFixed(3)} ± ${x.baseline.se.toFixed(3)}; ΔPPL ${deltaPercent(m.ppl, x.baseline.ppl).toFixed(2)}%`);
    lines.push(`KL divergence from the baseline: mean ${m.kl.mean.toFixed(5)} ± ${m.kl.se.toFixed(5)} nats, p95 ${m.kl.p95.toFixed(4)}, p99 ${m.kl.p99.toFixed(4)}, max ${m.kl.max.toFixed(3)}; top-1 agreement ${(m.top1Agreement! * 100).toFixed(2)}%`);
  }
  lines.push(`${x.seconds.toFixed(1)} s, ${x.tokensPerSecond.toFixed(0)} tokens/s (${r.backend} backend)`);
  return lines;
}

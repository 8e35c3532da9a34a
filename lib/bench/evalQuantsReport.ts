// eval-quants results as markdown (one row per quantization, the source first) and an
// SVG of quality against bits per weight.
import type { EvalQuantsResult } from './evalQuants.js';
import { type MachineInfo, machineLine, reportHeader } from './machine.js';
import type { Spread } from './stats.js';
import { labelledPoints, svgDocument } from './svg.js';

export interface EvalQuantsReport extends EvalQuantsResult {
  command: string;
  /** Lines the user added (--note). */
  notes: string[];
  machine: MachineInfo;
  backend: string;
  data: { file: string; sha256: string; tokens: number; windowsAvailable: number };
  date: string;
  /** Another tool's results on the same data, drawn as reference marks (`--reference FILE`). */
  references?: ReferencePoints;
}

export interface ReferencePoints {
  source: string;
  points: { label: string; bitsPerWeight: number; deltaPplPercent: number | null; kld: number | null }[];
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function tps(s: Spread | undefined): string {
  return s ? `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})` : '—';
}

export function evalQuantsMarkdown(r: EvalQuantsReport): string {
  const p = r.perplexity;
  const rows = [...r.rows].sort((a, b) => b.bitsPerWeight - a.bitsPerWeight);
  const src = r.source;
  const out = [
    ...reportHeader({
      title: 'mlxk eval-quants: quality against size',
      ...(r.partial ? { partialWarning: 'Partial results: the run stopped before every step finished; empty cells were not measured.' } : {}),
      date: r.date, command: r.command, notes: r.notes, machineLine: `${machineLine(r.machine)}; ${r.backend} backend`,
    }),
    `Source \`${src.dir}\`, ${src.params.toLocaleString('en-US')} parameters. Data \`${r.data.file}\` (sha256 ${r.data.sha256.slice(0, 12)}…, ${r.data.tokens} tokens)` +
      (p ? `: ${p.windows}${p.windows < r.data.windowsAvailable ? ` of ${r.data.windowsAvailable}` : ''} non-overlapping windows of ${p.seqLen} tokens, ${p.scoredTokens} scored positions.` : '.'),
    'Perplexity is exp(mean NLL) ± its standard error; ΔPPL is relative to the source; KLD is the mean KL(source ‖ quantized) per position in nats (p99 in brackets); top-1 is the share of positions where both pick the same most likely token.',
    `Decode tokens/s: ${r.decode.tokens} greedy tokens after a ${r.decode.prompt}-token random prompt, median (min–max) of ${r.decode.repetitions} rounds over all models after a warm-up round.`,
    '',
    '| model | bits/weight | size | perplexity | ΔPPL | KLD (p99) | top-1 | decode tokens/s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    `| source | ${src.bitsPerWeight.toFixed(2)} | ${mb(src.bytes)} | ${src.perplexity ? `${src.perplexity.ppl.toFixed(3)} ± ${src.perplexity.se.toFixed(3)}` : '—'} | — | — | — | ${tps(src.decodeTokensPerSecond)} |`,
    ...rows.map((x) =>
      `| ${x.name} | ${x.bitsPerWeight.toFixed(2)} | ${mb(x.bytes)} | ${x.perplexity ? `${x.perplexity.ppl.toFixed(3)} ± ${x.perplexity.se.toFixed(3)}` : '—'} | ${x.deltaPplPercent !== undefined ? `${x.deltaPplPercent >= 0 ? '+' : ''}${x.deltaPplPercent.toFixed(2)}%` : '—'} | ${x.kl ? `${x.kl.mean.toFixed(4)} (${x.kl.p99.toFixed(3)})` : '—'} | ${x.top1Agreement !== undefined ? `${(x.top1Agreement * 100).toFixed(1)}%` : '—'} | ${tps(x.decodeTokensPerSecond)} |`),
    ...(r.references ? ['', `Reference marks: ${r.references.source}.`, '', '| reference | bits/weight | ΔPPL | KLD |', '|---|---:|---:|---:|', ...r.references.points.map((x) => `| ${x.label} | ${x.bitsPerWeight.toFixed(2)} | ${x.deltaPplPercent === null ? '—' : `+${x.deltaPplPercent.toFixed(2)}%`} | ${x.kld === null ? '—' : x.kld.toFixed(4)} |`)] : []),
    '',
    'Presets:',
    '',
    ...rows.map((x) => `- \`${x.name}\`: ${x.description || '(no description)'}`),
  ];
  return `${out.filter((l, i) => !(l === '' && out[i - 1] === '')).join('\n').trim()}\n`;
}

export function evalQuantsSvg(r: EvalQuantsReport): string {
  const measured = r.rows.filter((x) => x.kl && x.deltaPplPercent !== undefined);
  const refs = r.references?.points ?? [];
  const panels = [
    labelledPoints({ title: 'KL divergence from the source', xLabel: 'bits per weight', yLabel: 'mean KLD (nats, log scale)', logY: true, points: measured.map((x) => ({ x: x.bitsPerWeight, y: x.kl!.mean, label: x.name })), references: refs.flatMap((x) => (x.kld === null ? [] : [{ x: x.bitsPerWeight, y: x.kld, label: x.label }])) }),
    labelledPoints({ title: 'Perplexity increase', xLabel: 'bits per weight', yLabel: 'ΔPPL (%)', points: measured.map((x) => ({ x: x.bitsPerWeight, y: x.deltaPplPercent!, label: x.name })), references: refs.flatMap((x) => (x.deltaPplPercent === null ? [] : [{ x: x.bitsPerWeight, y: x.deltaPplPercent, label: x.label }])) }),
  ];
  return svgDocument(panels, `mlxk eval-quants · ${r.data.file} · ${r.perplexity?.windows ?? 0} windows × ${r.perplexity?.seqLen ?? 0} · ${r.machine.cpu}${r.partial ? ' · PARTIAL' : ''}`);
}

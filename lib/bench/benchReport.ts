// `mlxk bench` results as markdown (the published shape: one row per size, one column
// per model, median with min–max), JSON (every trial) and an SVG chart.
import { type MachineInfo, machineLine, reportHeader } from './machine.js';
import type { Spread } from './stats.js';
import { groupedBars, svgDocument } from './svg.js';
import type { BenchResult, ModelResult, SizeResult } from './throughput.js';

export interface BenchReport extends BenchResult {
  command: string;
  /** Lines the user added (--note), e.g. how the models were made. */
  notes: string[];
  machine: MachineInfo;
  /** How peak memory was measured. */
  memoryMethod: string;
  date: string;
}

function cell(s: Spread | undefined, digits: number, scale = 1): string {
  if (!s) return '—';
  const f = (x: number) => (x * scale).toFixed(digits);
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

function table(r: BenchReport, head: string, rows: (m: ModelResult) => SizeResult[], value: (x: SizeResult) => string): string[] {
  const sizes = [...new Set(r.models.flatMap((m) => rows(m).map((x) => x.size)))];
  if (sizes.length === 0) return [];
  const lines = [`| ${head} | ${r.models.map((m) => m.label).join(' | ')} |`, `|---:|${r.models.map(() => '---:').join('|')}|`];
  for (const size of sizes) {
    const cells = r.models.map((m) => {
      const x = rows(m).find((y) => y.size === size);
      if (!x) return '—';
      return x.skipped ? 'skipped' : value(x);
    });
    lines.push(`| ${size} | ${cells.join(' | ')} |`);
  }
  return lines;
}

function sizeText(m: ModelResult): string {
  const parts = [m.bytes !== undefined ? `${(m.bytes / 1e9).toFixed(m.bytes < 1e9 ? 3 : 2)} GB` : '', m.bitsPerWeight !== undefined ? `${m.bitsPerWeight.toFixed(2)} bpw` : ''];
  return parts.filter(Boolean).join(', ') || '—';
}

export function benchMarkdown(r: BenchReport): string {
  const s = r.settings;
  const out = [
    ...reportHeader({
      title: `mlxk bench: ${r.models.map((m) => m.label).join(', ')}`,
      ...(r.partial ? { partialWarning: 'Partial results: the run stopped (or was still running) before every trial finished; the tables hold the trials that did.' } : {}),
      date: r.date, command: r.command, notes: r.notes, machineLine: machineLine(r.machine),
    }),
    `Each cell is the median of ${s.repetitions} trial(s) with (min–max), after one short warm-up per model. Prompts are random token ids (seed ${s.seed}); generation is greedy and never stops early, so exactly the stated number of tokens is generated.`,
    `Prompt tokens/s = prompt tokens / time to first token. Generation tokens/s counts the tokens after the first over the time after the first (prompt of ${s.genPrompt} tokens). Peak memory: ${r.memoryMethod}. Total time ${r.seconds.toFixed(0)} s.`,
    '',
    '| model | path | backend | architecture | size | context | load |',
    '|---|---|---|---|---|---:|---:|',
    ...r.models.map((m) => `| ${m.label} | \`${m.path}\` | ${m.backend} | ${m.arch} | ${sizeText(m)} | ${m.maxContext} | ${m.loadSeconds.toFixed(1)} s |`),
    '',
    '## Prompt tokens per second',
    '',
    ...table(r, 'prompt size', (m) => m.prompt, (x) => cell(x.promptTokensPerSecond, 1)),
    '',
    '## Generation tokens per second',
    '',
    ...table(r, 'generation size', (m) => m.generation, (x) => cell(x.generationTokensPerSecond, 1)),
    '',
    '## Time to first token (seconds)',
    '',
    ...table(r, 'prompt size', (m) => m.prompt, (x) => cell(x.timeToFirstTokenSeconds, 3)),
    '',
    '## Peak memory per trial (MB)',
    '',
    ...table(r, 'prompt size', (m) => m.prompt, (x) => cell(x.peakMemoryBytes, 0, 1e-6)),
    '',
    ...table(r, 'generation size', (m) => m.generation, (x) => cell(x.peakMemoryBytes, 0, 1e-6)),
  ];
  const skipped = r.models.flatMap((m) => [...m.prompt, ...m.generation].filter((x) => x.skipped).map((x) => `- ${m.label}: ${x.skipped}.`));
  if (skipped.length) out.push('', 'Skipped:', '', ...skipped);
  return `${out.filter((l, i) => !(l === '' && out[i - 1] === '')).join('\n').trim()}\n`;
}

function bars(r: BenchReport, rows: (m: ModelResult) => SizeResult[], pick: (x: SizeResult) => Spread | undefined, title: string, xLabel: string, yLabel: string): string {
  const groups = [...new Set(r.models.flatMap((m) => rows(m).map((x) => x.size)))];
  return groupedBars({
    title, xLabel, yLabel,
    groups: groups.map(String),
    series: r.models.map((m) => {
      const spreads = groups.map((g) => pick(rows(m).find((x) => x.size === g) ?? ({} as SizeResult)));
      return { name: m.label, values: spreads.map((s) => s?.median ?? null), ranges: spreads.map((s) => (s ? [s.min, s.max] : null)) };
    }),
  });
}

export function benchSvg(r: BenchReport): string {
  const panels = [
    bars(r, (m) => m.prompt, (x) => x.promptTokensPerSecond, 'Prompt tokens per second', 'prompt tokens', 'tokens/s'),
    bars(r, (m) => m.generation, (x) => x.generationTokensPerSecond, 'Generation tokens per second', 'generated tokens', 'tokens/s'),
  ];
  return svgDocument(panels, `mlxk bench · ${r.machine.cpu}, ${r.machine.cores} cores · ${r.models[0]?.backend ?? ''} backend · median, whiskers min–max${r.partial ? ' · PARTIAL' : ''}`);
}

// Minimal SVG charts for reports, written by hand (no charting dependency): grouped
// bars with min–max whiskers, and labelled points joined by a line. Each chart is a
// <g> of a fixed size; `svgDocument` lays panels side by side.

export const PANEL_WIDTH = 520;
export const PANEL_HEIGHT = 340;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 70 };
const COLORS = ['#4269d0', '#efb118', '#ff725c', '#6cc5b0', '#3ca951', '#ff8ab7', '#a463f2', '#97bbf5', '#9c6b4e', '#9498a0'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(x: number): string {
  return String(Math.round(x * 10) / 10);
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${num(x)}" y="${num(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(s)}</text>`;
}

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let i = first; i <= last; i++) ticks.push(i * step);
  return ticks;
}

function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${num(v / 1e6)}M`;
  if (a >= 1e4) return `${num(v / 1e3)}k`;
  return a >= 1 ? String(Math.round(v * 100) / 100) : v.toPrecision(2);
}

interface Frame {
  x0: number;
  y0: number;
  w: number;
  h: number;
}

function frame(title: string, yLabel: string, xLabel: string, yTicks: number[], yOf: (v: number) => number, label: (v: number) => string = tickLabel): { svg: string[]; f: Frame } {
  const f = { x0: MARGIN.left, y0: MARGIN.top, w: PANEL_WIDTH - MARGIN.left - MARGIN.right, h: PANEL_HEIGHT - MARGIN.top - MARGIN.bottom };
  const svg = [text(PANEL_WIDTH / 2, 20, title, 'text-anchor="middle" font-weight="bold"')];
  for (const t of yTicks) {
    const y = yOf(t);
    svg.push(`<line x1="${f.x0}" y1="${num(y)}" x2="${f.x0 + f.w}" y2="${num(y)}" stroke="#e3e3e3"/>`);
    svg.push(text(f.x0 - 6, y + 4, label(t), 'text-anchor="end"'));
  }
  svg.push(`<line x1="${f.x0}" y1="${f.y0 + f.h}" x2="${f.x0 + f.w}" y2="${f.y0 + f.h}" stroke="#333"/>`);
  svg.push(`<line x1="${f.x0}" y1="${f.y0}" x2="${f.x0}" y2="${f.y0 + f.h}" stroke="#333"/>`);
  svg.push(text(16, f.y0 + f.h / 2, yLabel, `text-anchor="middle" transform="rotate(-90 16 ${num(f.y0 + f.h / 2)})"`));
  svg.push(text(f.x0 + f.w / 2, PANEL_HEIGHT - 38, xLabel, 'text-anchor="middle"'));
  return { svg, f };
}

function legend(names: string[], y: number): string[] {
  const out: string[] = [];
  let x = MARGIN.left;
  names.forEach((n, i) => {
    out.push(`<rect x="${num(x)}" y="${num(y - 9)}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(text(x + 14, y, n));
    x += 24 + n.length * 7;
  });
  return out;
}

export interface BarSeries {
  name: string;
  /** One value per group; null leaves a gap (skipped size). */
  values: (number | null)[];
  /** Whiskers per group (min, max). */
  ranges?: ([number, number] | null)[];
}

export function groupedBars(o: { title: string; xLabel: string; yLabel: string; groups: string[]; series: BarSeries[] }): string {
  const all = o.series.flatMap((s) => [...s.values, ...(s.ranges ?? []).flatMap((r) => (r ? [r[1]] : []))]).filter((v): v is number => v !== null && Number.isFinite(v));
  const ticks = niceTicks(0, all.length ? Math.max(...all) : 1);
  const top = ticks[ticks.length - 1]!;
  const h = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const yOf = (v: number) => MARGIN.top + h - (v / top) * h;
  const { svg, f } = frame(o.title, o.yLabel, o.xLabel, ticks, yOf);
  const groupW = f.w / Math.max(1, o.groups.length);
  const barW = (groupW * 0.8) / Math.max(1, o.series.length);
  o.groups.forEach((g, gi) => {
    const gx = f.x0 + gi * groupW + groupW * 0.1;
    svg.push(text(gx + groupW * 0.4, f.y0 + f.h + 16, g, 'text-anchor="middle"'));
    if (o.series.every((s) => s.values[gi] === null || s.values[gi] === undefined)) svg.push(text(gx + groupW * 0.4, f.y0 + f.h - 8, 'skipped', 'text-anchor="middle" fill="#888"'));
    o.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * barW;
      svg.push(`<rect x="${num(x)}" y="${num(yOf(v))}" width="${num(barW * 0.9)}" height="${num(f.y0 + f.h - yOf(v))}" fill="${COLORS[si % COLORS.length]}"><title>${escapeXml(`${s.name} · ${g}: ${tickLabel(v)}`)}</title></rect>`);
      const r = s.ranges?.[gi];
      if (r) {
        const cx = x + barW * 0.45;
        svg.push(`<line x1="${num(cx)}" y1="${num(yOf(r[0]))}" x2="${num(cx)}" y2="${num(yOf(r[1]))}" stroke="#222"/>`);
      }
    });
  });
  svg.push(...legend(o.series.map((s) => s.name), PANEL_HEIGHT - 12));
  return svg.join('\n');
}

export interface Point {
  x: number;
  y: number;
  label: string;
}

/** Labelled points (quality against bits per weight), with optional reference marks (another tool's results) drawn as hollow diamonds. */
export function labelledPoints(o: { title: string; xLabel: string; yLabel: string; points: Point[]; logY?: boolean; references?: Point[] }): string {
  const usable = (p: Point) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logY || p.y > 0);
  const pts = o.points.filter(usable).sort((a, b) => a.x - b.x);
  const refs = (o.references ?? []).filter(usable);
  const ys = pts.map((p) => (o.logY ? Math.log10(p.y) : p.y));
  const refYs = refs.map((p) => (o.logY ? Math.log10(p.y) : p.y));
  const allYs = [...ys, ...refYs];
  const yTicks = o.logY ? logTicks(allYs) : niceTicks(Math.min(0, ...allYs), allYs.length ? Math.max(...allYs) : 1);
  const lo = yTicks[0]!;
  const hi = yTicks[yTicks.length - 1]!;
  const xs = [...pts, ...refs].map((p) => p.x);
  const xTicks = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const xlo = xTicks[0]!;
  const xhi = xTicks[xTicks.length - 1]!;
  const h = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const w = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const yOf = (v: number) => MARGIN.top + h - ((v - lo) / (hi - lo || 1)) * h;
  const xOf = (v: number) => MARGIN.left + ((v - xlo) / (xhi - xlo || 1)) * w;
  const { svg, f } = frame(o.title, o.yLabel, o.xLabel, yTicks, yOf, o.logY ? (t) => tickLabel(10 ** t) : tickLabel);
  for (const t of xTicks) svg.push(text(xOf(t), f.y0 + f.h + 16, tickLabel(t), 'text-anchor="middle"'));
  // Labels move down a line while they would overlap one already placed (equal sizes, e.g. q4 and q4:mse).
  const placed: { x: number; y: number; w: number }[] = [];
  const REF = '#d0542c';
  refs.forEach((p, i) => {
    const x = xOf(p.x);
    const y = yOf(refYs[i]!);
    svg.push(`<path d="M${num(x)} ${num(y - 5)} L${num(x + 5)} ${num(y)} L${num(x)} ${num(y + 5)} L${num(x - 5)} ${num(y)} Z" fill="none" stroke="${REF}" stroke-width="1.5"><title>${escapeXml(`${p.label}: ${p.x.toFixed(2)} bpw, ${tickLabel(p.y)}`)}</title></path>`);
    const w = p.label.length * 6;
    let ly = y + 14;
    while (placed.some((b) => Math.abs(b.y - ly) < 11 && x + 6 < b.x + b.w && b.x < x + 6 + w)) ly += 11;
    placed.push({ x: x + 6, y: ly, w });
    svg.push(text(x + 6, ly, p.label, `font-size="10" fill="${REF}"`));
  });
  pts.forEach((p, i) => {
    const x = xOf(p.x);
    const y = yOf(ys[i]!);
    svg.push(`<circle cx="${num(x)}" cy="${num(y)}" r="4" fill="${COLORS[0]}"><title>${escapeXml(`${p.label}: ${p.x.toFixed(2)} bpw, ${tickLabel(p.y)}`)}</title></circle>`);
    const w = p.label.length * 6;
    let ly = y - 6;
    while (placed.some((b) => Math.abs(b.y - ly) < 11 && x + 6 < b.x + b.w && b.x < x + 6 + w)) ly += 11;
    placed.push({ x: x + 6, y: ly, w });
    svg.push(text(x + 6, ly, p.label, 'font-size="10"'));
  });
  return svg.join('\n');
}

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

/** Series of points joined by lines over a shared x axis (a quantity sampled over time). */
export function lineChart(o: { title: string; xLabel: string; yLabel: string; series: LineSeries[] }): string {
  const pts = o.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const yTicks = niceTicks(0, pts.length ? Math.max(...pts.map((p) => p.y)) : 1);
  const xTicks = niceTicks(pts.length ? Math.min(...pts.map((p) => p.x)) : 0, pts.length ? Math.max(...pts.map((p) => p.x)) : 1);
  const [lo, hi] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const [xlo, xhi] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const h = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const w = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const yOf = (v: number) => MARGIN.top + h - ((v - lo) / (hi - lo || 1)) * h;
  const xOf = (v: number) => MARGIN.left + ((v - xlo) / (xhi - xlo || 1)) * w;
  const { svg, f } = frame(o.title, o.yLabel, o.xLabel, yTicks, yOf);
  for (const t of xTicks) svg.push(text(xOf(t), f.y0 + f.h + 16, tickLabel(t), 'text-anchor="middle"'));
  o.series.forEach((s, i) => {
    const d = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p, k) => `${k ? 'L' : 'M'}${num(xOf(p.x))} ${num(yOf(p.y))}`).join(' ');
    if (d) svg.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`);
  });
  svg.push(...legend(o.series.map((s) => s.name), PANEL_HEIGHT - 12));
  return svg.join('\n');
}

/** Integer powers of ten spanning log10 values. */
function logTicks(logs: number[]): number[] {
  if (logs.length === 0) return [0, 1];
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.max(lo + 1, Math.ceil(Math.max(...logs)));
  const out: number[] = [];
  for (let v = lo; v <= hi; v++) out.push(v);
  return out;
}

/** Panels side by side in one document. */
export function svgDocument(panels: string[], caption?: string): string {
  const height = PANEL_HEIGHT + (caption ? 22 : 0);
  const width = PANEL_WIDTH * Math.max(1, panels.length);
  const body = panels.map((p, i) => `<g transform="translate(${i * PANEL_WIDTH},0)">\n${p}\n</g>`).join('\n');
  const cap = caption ? `\n${text(8, PANEL_HEIGHT + 14, caption, 'font-size="11" fill="#555"')}` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${body}${cap}\n</svg>\n`;
}

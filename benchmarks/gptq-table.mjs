// The markdown table of benchmarks/gptq-quality.sh from its OUT_DIR: one row per qB-M model found
// (bits 4, 3, 2; methods in the order mse, gptq, learned, anything else after).
// "output error vs RTN / vs mse" is Σ tr(ΔW·H·ΔWᵀ) over the calibrated tensors ÷ the same sum for
// round-to-nearest / the mse fit, on the calibration Hessians (the quantize report's numbers).
// Usage: node benchmarks/gptq-table.mjs OUT_DIR
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node benchmarks/gptq-table.mjs OUT_DIR');
const order = ['mse', 'gptq', 'learned'];
const rank = (m) => (order.includes(m) ? order.indexOf(m) : order.length);
const names = readdirSync(dir)
  .map((f) => /^(q(\d)-([\w.-]+))\.ppl\.json$/.exec(f))
  .filter(Boolean)
  .sort((a, b) => Number(b[2]) - Number(a[2]) || rank(a[3]) - rank(b[3]) || a[3].localeCompare(b[3]));
const read = (f) => (existsSync(f) && readFileSync(f, 'utf8').trim() ? JSON.parse(readFileSync(f, 'utf8')) : null);
const pct = (x) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
const rows = [];
let windows = null;
let data = null;
for (const [, name] of names) {
  const ppl = read(join(dir, `${name}.ppl.json`));
  const q = read(join(dir, `${name}.quantize.json`));
  if (!ppl?.result) continue;
  windows = ppl.result.windows;
  data = ppl.data.file;
  const m = ppl.result.models[0];
  const base = ppl.result.baseline.ppl;
  const cal = (q?.tensors ?? []).filter((t) => t.calibration);
  const sum = (k) => cal.reduce((a, t) => a + t.calibration[k], 0);
  const ratio = (k) => (cal.length ? (sum('outputError') / sum(k)).toFixed(3) : '—');
  const time = existsSync(join(dir, `${name}.time`)) ? readFileSync(join(dir, `${name}.time`), 'utf8') : '';
  const t = /wall ([\d.]+) s, user ([\d.]+) s, sys ([\d.]+) s/.exec(time);
  const load = [...time.matchAll(/load at (?:start|end): ([\d.]+)/g)].map((x) => x[1]).join('–');
  rows.push(`| ${name} | ${q ? q.bitsPerWeight.toFixed(3) : '?'} | ${m.ppl.toFixed(3)} | ${pct((m.ppl - base) / base)} | ${m.kl.mean.toFixed(4)} | ${(m.top1Agreement * 100).toFixed(2)}% | ${ratio('rtnOutputError')} | ${ratio('mseOutputError')} | ${t ? `${Math.round(Number(t[1]))} / ${Math.round(Number(t[2]) + Number(t[3]))}` : '?'} | ${load || '?'} |`);
  rows.base = base;
}
console.log(`${windows} windows of ${data}, baseline PPL ${rows.base?.toFixed(3)}\n`);
console.log('| model | bpw | PPL | ΔPPL | KLD | top-1 | output error vs RTN | vs mse | quantize s (wall / CPU) | load avg (start–end) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows) console.log(r);

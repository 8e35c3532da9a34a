// Splits the shipped calibration text (calib/calib.txt) into a part to calibrate on and a
// held-out part to choose GPTQ / learned-rounding settings on, so no setting is ever chosen on
// evaluation text: pieces of ≥ 4 KB ending at a blank line, every fifth (index 2, 7, 12, …)
// held out, so both parts keep the set's mix of code, chat, reasoning and languages.
// Usage: node benchmarks/calib-split.mjs OUT_DIR   → OUT_DIR/train.txt, OUT_DIR/heldout.txt
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) throw new Error('usage: node benchmarks/calib-split.mjs OUT_DIR');
const text = readFileSync(new URL('../calib/calib.txt', import.meta.url), 'utf8');
const parts = text.split(/(\n\s*\n)/);
const pieces = [];
let cur = '';
for (const p of parts) {
  cur += p;
  if (cur.length >= 4096 && /^\n\s*\n$/.test(p)) {
    pieces.push(cur);
    cur = '';
  }
}
if (cur) pieces.push(cur);
const train = pieces.filter((_, i) => i % 5 !== 2).join('');
const heldout = pieces.filter((_, i) => i % 5 === 2).join('');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'train.txt'), train);
writeFileSync(join(out, 'heldout.txt'), heldout);
console.log(`${pieces.length} pieces: train ${train.length} chars, held out ${heldout.length} chars`);

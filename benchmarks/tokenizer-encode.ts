// Encode speed on models/tiny-kimi/eval-A.txt (362 KB of docs text), tokens per second.
// Baseline in the same run: tiktoken (Rust, WASM) on tiny-kimi's vocabulary. The pure-TS BPE is
// timed on the same vocabulary rewritten as tokenizer.json (identical ids), and on the
// Llama-3/Qwen2-style fixture tokenizers. "first" is a fresh tokenizer (empty word cache).
// Run: npm run build && node dist/benchmarks/tokenizer-encode.js
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpeTokenizer } from '../lib/tokenizer/bpeTokenizer.js';
import { KimiTiktokenTokenizer, readTiktokenRanks } from '../lib/tokenizer/tiktokenTokenizer.js';
import type { TokenCodec } from '../lib/tokenizer/types.js';
import { tiktokenAsTokenizerJson } from '../test/tokenizer/tiktokenAsHf.js';

const root = new URL('../../', import.meta.url).pathname;
const kimiDir = join(root, 'models/tiny-kimi');
const text = readFileSync(join(kimiDir, 'eval-A.txt'), 'utf8');
const REPEATS = 5;

function measure(name: string, make: () => TokenCodec): number {
  const tok = make();
  let t = performance.now();
  const n = tok.encode(text).length;
  const first = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    t = performance.now();
    tok.encode(text);
    times.push(performance.now() - t);
  }
  const median = times.sort((a, b) => a - b)[REPEATS >> 1]!;
  const rate = n / (median / 1000);
  console.log(`${name.padEnd(36)} ${String(n).padStart(7)} tokens  first ${(n / first * 1000).toFixed(0).padStart(8)} tok/s  median of ${REPEATS} ${rate.toFixed(0).padStart(8)} tok/s`);
  return rate;
}

const configPath = join(kimiDir, 'tokenizer_config.json');
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const kimi = () => new KimiTiktokenTokenizer(join(kimiDir, 'tiktoken.model'), config, configPath);
const converted = () => {
  const ranks = readTiktokenRanks('tiktoken.model', readFileSync(join(kimiDir, 'tiktoken.model'), 'utf8'));
  return new BpeTokenizer(tiktokenAsTokenizerJson(ranks, config.pat_str, kimi().specialTokens), 'converted');
};
const fixture = (style: string) => () => new BpeTokenizer(JSON.parse(readFileSync(join(root, `test/fixtures/tokenizers/${style}/tokenizer.json`), 'utf8')), style);

console.log(`eval-A.txt: ${text.length} characters, node ${process.version}`);
const base = measure('tiktoken WASM (tiny-kimi)', kimi);
const ts = measure('TS BPE, same vocab (tiny-kimi)', converted);
measure('TS BPE, llama3 fixture (1006 vocab)', fixture('llama3'));
measure('TS BPE, qwen2 fixture (1005 vocab)', fixture('qwen2'));
console.log(`TS BPE / tiktoken on identical ids: ${(ts / base).toFixed(2)}×`);

// Output-parser cost per generated token, against the streaming detokenizer it runs behind (the
// baseline, timed in the same run). Input: models/tiny-kimi/eval-A.txt shaped as a Kimi-K2.5
// answer: a third reasoning, a third answer text, a third as the arguments of a tool call; encoded
// by tiny-kimi's tokenizer, decoded id by id, each piece fed to the parser with one stop sequence.
// Run: npm run build && node dist/benchmarks/output-parser.js
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputParser } from '../lib/protocol/outputParser.js';
import { THINK_TAGS } from '../lib/protocol/reasoning.js';
import { loadTokenizer } from '../lib/tokenizer/load.js';
import { StreamDecoder } from '../lib/tokenizer/streamDecoder.js';

const dir = join(new URL('../../', import.meta.url).pathname, 'models/tiny-kimi');
const doc = readFileSync(join(dir, 'eval-A.txt'), 'utf8');
const third = Math.floor(doc.length / 3);
const output =
  `${doc.slice(0, third)}</think>${doc.slice(third, 2 * third)}` +
  `<|tool_calls_section_begin|><|tool_call_begin|>functions.write_file:0<|tool_call_argument_begin|>${JSON.stringify({ path: 'a.txt', content: doc.slice(2 * third) })}<|tool_call_end|><|tool_calls_section_end|>`;
const tok = loadTokenizer(dir);
const ids = tok.encode(output, { special: true });
const REPEATS = 7;

function median(run: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = performance.now();
    run();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[REPEATS >> 1]!;
}

const decodeOnly = median(() => {
  const d = new StreamDecoder(tok);
  for (const id of ids) d.push(id);
});
let events = 0;
const decodeAndParse = median(() => {
  const d = new StreamDecoder(tok);
  const p = new OutputParser({ toolFormat: 'kimi_k2', reasoning: THINK_TAGS, startInReasoning: true, stop: ['<|never|>'], tools: [{ name: 'write_file' }] });
  events = 0;
  for (const id of ids) events += p.feed(d.push(id)).length;
  events += p.finish().length;
});
const parse = decodeAndParse - decodeOnly;
console.log(`${ids.length} tokens, ${output.length} chars, ${events} events`);
console.log(`decode only       ${decodeOnly.toFixed(1)} ms  ${((ids.length / decodeOnly) * 1000).toFixed(0)} tokens/s`);
console.log(`decode + parse    ${decodeAndParse.toFixed(1)} ms  ${((ids.length / decodeAndParse) * 1000).toFixed(0)} tokens/s`);
console.log(`parser: ${((parse / ids.length) * 1e6).toFixed(0)} ns/token, ${(decodeAndParse / decodeOnly).toFixed(2)}× the decoder's time`);

// Greedy decoding after a full prefill against after a prompt-cache path (all but the last prompt
// token prefilled, that token run as one step, as the server's prompt cache does), side by side:
// each step's top-2 ids and their logit margin on both paths, and the largest difference of the
// first token's logits. Shows whether two paths part at a near-tie (issue 14: serveModels). Not a
// test. MLXK_ACTIVATION_BITS, MLXK_ISA and MLXK_NATIVE_ADDON choose what is compared.
//   npm run build && node dist/benchmarks/cache-path-margin.js [MODEL_DIR] [--prompt TEXT] [--tokens 12]
import { LanguageModel } from '../lib/engine/languageModel.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const prompt = flag('prompt') ?? 'What is a list?';
const TOKENS = Number(flag('tokens') ?? 12);

/** Top two ids of the logits and the margin between them. */
function top2(l: Float32Array): [number, number, number] {
  let a = 0;
  let b = 1;
  if (l[b]! > l[a]!) [a, b] = [b, a];
  for (let i = 2; i < l.length; i++) {
    if (l[i]! > l[a]!) [a, b] = [i, a];
    else if (l[i]! > l[b]!) b = i;
  }
  return [a, b, l[a]! - l[b]!];
}

const lm = await LanguageModel.load(dir);
const ids = lm.promptIds({ messages: [{ role: 'user', content: prompt }] });

async function run(cached: boolean): Promise<{ first: Float32Array; steps: [number, number, number][] }> {
  const seq = lm.newSequence();
  if (cached) await seq.prefill(ids.slice(0, -1));
  let logits = await seq.prefill(cached ? ids.slice(-1) : ids);
  const first = logits.slice();
  const steps: [number, number, number][] = [];
  for (let i = 0; i < TOKENS; i++) {
    steps.push(top2(logits));
    logits = await seq.decode(steps[i]![0]);
  }
  return { first, steps };
}

const full = await run(false);
const cached = await run(true);
let diff = 0;
for (let i = 0; i < full.first.length; i++) diff = Math.max(diff, Math.abs(full.first[i]! - cached.first[i]!));
console.log(`${dir ?? 'bundled model'}, ${ids.length} prompt tokens; first token's logits: max |full − cached| ${diff.toFixed(4)}`);
console.log('| step | full prefill: top-2 ids, margin | cached prefix: top-2 ids, margin | |');
console.log('|---|---|---|---|');
full.steps.forEach(([a, b, m], i) => {
  const [c, d, n] = cached.steps[i]!;
  console.log(`| ${i + 1} | ${a}, ${b}: ${m.toFixed(4)} | ${c}, ${d}: ${n.toFixed(4)} | ${a === c ? '' : 'differs'} |`);
});

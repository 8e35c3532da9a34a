// Generate text from a Node app with mlxk's library API.
// Run from the mlxk checkout after `npm ci`: node examples/generate.mjs [MODEL_DIR]
// (In your own project, after `npm install mlxk`, import from 'mlxk' instead.)
import { LanguageModel } from '../dist/lib/index.js';

// Loads weights (MLX-format or Hugging Face bf16) and the tokenizer; default: the bundled tiny-kimi.
const lm = await LanguageModel.load(process.argv[2]);

// A raw prompt (no chat template), greedy: the same tokens every run.
const completion = await lm.generate({ prompt: 'The Python tutorial', raw: true }, { temperature: 0, maxTokens: 32 });
console.log(JSON.stringify(completion.text));

// A chat turn, streamed as it is generated, sampled with a seed.
const result = await lm.generate(
  { messages: [{ role: 'user', content: 'How do I open a file?' }] },
  { temperature: 0.7, topP: 0.9, seed: 42, maxTokens: 48 },
  (event) => process.stdout.write(event.text),
);
const s = result.stats;
console.log(`\n[${result.finishReason}] ${s.generatedTokens} tokens, ${s.generationTokensPerSecond.toFixed(1)} tokens/s, first token after ${(s.timeToFirstTokenSeconds * 1000).toFixed(0)} ms`);

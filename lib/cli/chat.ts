// `mlxk chat [MODEL]`: an interactive conversation, each reply streamed. The model's
// cache is kept between turns, so only the new part of each prompt is computed. Lines
// from a pipe work too (one user turn per line).
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { BUNDLED_MODEL, LanguageModel } from '../engine/languageModel.js';
import { MlxkError } from '../io/errors.js';
import type { ChatMessage } from '../tokenizer/index.js';
import { statsLine } from './generate.js';
import { backendArg } from './commonOptions.js';
import { addSampleOptions, generateOptionsFrom, type SampleFlags } from './sampleArgs.js';

interface ChatFlags extends SampleFlags {
  system?: string;
  stats?: boolean;
}

export function registerChat(program: Command): void {
  const cmd = program
    .command('chat')
    .description('chat with a model in the terminal (/reset starts over, Ctrl-D or /exit quits)')
    .argument('[model]', 'model directory or HF cache id (default: the bundled models/tiny-kimi)')
    .option('--system <text>', 'system message')
    .option('--stats', 'print speed and memory after each reply (stderr)');
  addSampleOptions(cmd, '512').action(async (model: string | undefined, flags: ChatFlags) => {
    const lm = await LanguageModel.load(model ?? BUNDLED_MODEL, { backend: backendArg(flags.backend) });
    if (!lm.tokenizer.hasChatTemplate) throw new MlxkError(`${lm.dir}: has no chat template (tokenizer_config.json chat_template or chat_template.jinja)`, 'use `mlxk generate --raw` for plain completions');
    const opts = generateOptionsFrom(flags, lm.dir);
    const tty = process.stdin.isTTY === true;
    const start = (): ChatMessage[] => (flags.system !== undefined ? [{ role: 'system', content: flags.system }] : []);
    let messages = start();
    let seq = lm.newSequence();
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
    const prompt = () => tty && rl.prompt();
    rl.setPrompt('> ');
    if (tty) process.stdout.write(`mlxk chat — ${lm.dir} (${lm.model.info.modelType}); /reset, /exit\n`);
    prompt();
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/exit') break;
      if (text === '/reset') {
        messages = start();
        seq = lm.newSequence();
        prompt();
        continue;
      }
      if (text === '') {
        prompt();
        continue;
      }
      messages.push({ role: 'user', content: text });
      const r = await lm.generate({ messages }, opts, (e) => process.stdout.write(e.text), seq);
      process.stdout.write('\n');
      if (flags.stats) process.stderr.write(`${statsLine(r)}\n`);
      messages.push({ role: 'assistant', content: r.text });
      prompt();
    }
    rl.close();
  });
}

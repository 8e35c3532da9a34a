// A real server for tests: startServer on a loopback port (port 0) with the bundled model, the
// official SDK clients pointed at it, and a record of the scheduler's steps. Token choice can be
// scripted per request (the model still runs every step; only the sampler is replaced), so tool
// calls, reasoning and stop sequences go through the real HTTP, SSE, parser and cache paths.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { StepEvent } from '../../lib/engine/scheduler.js';
import type { TokenSampler } from '../../lib/server/job.js';
import type { ServedModel } from '../../lib/server/registry.js';
import { type RunningServer, type ServeOptions, startServer } from '../../lib/server/serve.js';
import { TINY_KIMI } from '../helpers.js';

export interface Script {
  /** What the model "writes" (encoded with special tokens recognized). */
  text: string;
  /** After the text: end of turn (default), or the text again and again (until max_tokens or a cancel). */
  after?: 'eos' | 'repeat';
  /** Throw from the sampler at this step (an injected failure). */
  failAt?: number;
}

export class ScriptedSampler implements TokenSampler {
  private at = 0;
  /** Steps sampled so far. */
  sampled = 0;

  constructor(private readonly ids: number[], private readonly eos: number, private readonly script: Script) {}

  sample(): number {
    this.sampled++;
    const i = this.at++;
    if (i === this.script.failAt) throw new Error('injected failure in the sampler');
    if (i < this.ids.length) return this.ids[i]!;
    return this.script.after === 'repeat' ? this.ids[i % this.ids.length]! : this.eos;
  }
}

export interface Live {
  server: RunningServer;
  url: string;
  openai: OpenAI;
  anthropic: Anthropic;
  /** Scripts for the next requests, taken in arrival order; with none left, the model samples. */
  scripts: Script[];
  steps: StepEvent[];
  logs: string[];
  close(): Promise<void>;
}

export function scriptedIds(model: ServedModel, text: string): number[] {
  return model.tokenizer.encode(text, { special: true });
}

export async function startLive(opts: Partial<ServeOptions> = {}): Promise<Live> {
  const scripts: Script[] = [];
  const logs: string[] = [];
  const server = await startServer({
    models: [{ path: TINY_KIMI }],
    port: 0,
    memoryBytes: 4 * 2 ** 30,
    promptCacheBytes: 64 * 2 ** 20,
    samplerFor: (_req, model) => {
      const s = scripts.shift();
      return s ? new ScriptedSampler(scriptedIds(model, s.text), model.stopTokens[0]!, s) : undefined;
    },
    log: (line) => logs.push(line),
    ...opts,
  });
  const steps: StepEvent[] = [];
  server.scheduler.on('step', (e: StepEvent) => steps.push(e));
  const key = opts.apiKey ?? 'unused';
  return {
    server,
    url: server.url,
    openai: new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: key, baseURL: server.url, maxRetries: 0 }),
    scripts,
    steps,
    logs,
    close: () => server.close(),
  };
}

/** Resolves when `check` holds, polling; fails after `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Steps of one request, by the id the server sent in x-request-id. */
export function stepsOf(live: Live, id: string): StepEvent[] {
  return live.steps.filter((s) => s.task === id);
}

// The real agent clients (Claude Code, Codex CLI, the AI SDK) against a real `mlxk serve`, headless
// and on loopback only. The model is a random long-context one made with `mlxk synth` (agents send
// 15–30K-token prompts) with tiny-kimi's tokenizer and Kimi chat template; a scripted sampler
// picks the tokens (the model still runs every step), so the client's tool call arrives in the
// model's native format and goes through the real parser, SSE and prompt cache. A recording proxy
// in front of the server keeps what each client sends, for the fixtures (shapes.ts).
import { copyFileSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TokenSampler } from '../../lib/server/job.js';
import type { ServedModel } from '../../lib/server/registry.js';
import { type RunningServer, type ServeOptions, startServer } from '../../lib/server/serve.js';
import type { GenerationRequest } from '../../lib/server/types.js';
import type { ChatMessage } from '../../lib/tokenizer/index.js';
import { MLXK, REPO, TINY_KIMI, tmpDir } from '../helpers.js';
import { ScriptedSampler } from '../server/live.js';

export const MODEL = 'long-kimi';
export const API_KEY = 'mlxk-test-key';
/** The command each client's scripted model asks to run, and what it prints. */
export const COMMAND = 'printf mlxk-%s $((6*7))';
export const PRINTED = 'mlxk-42';

/** `mlxk synth`: a 1-layer llama with a 64K context and tiny-kimi's tokenizer (prefill of ~17K tokens in seconds). */
export function synthLongModel(): string {
  const dir = join(tmpDir('mlxk-clients-'), MODEL);
  const args = ['synth', 'llama', dir, '--layers', '1', '--hidden', '32', '--intermediate', '64', '--heads', '1', '--kv-heads', '1', '--context', '65536', '--vocab', '4128', '--set', 'head_dim=16', '--seed', '7', '-q'];
  const r = spawnSync(process.execPath, [MLXK, ...args], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mlxk synth failed: ${r.stderr}`);
  for (const f of ['tiktoken.model', 'tokenizer_config.json', 'generation_config.json']) copyFileSync(join(TINY_KIMI, f), join(dir, f));
  return dir;
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** performance.now() when the request had arrived whole, and when its answer had been sent. */
  at: number;
  done?: number;
}

export interface ClientServer {
  server: RunningServer;
  /** The proxy's URL: what the clients are given. */
  url: string;
  recorded: Recorded[];
  /** The requests the scripted sampler answered, in order. */
  answered: GenerationRequest[];
  logs: string[];
  close(): Promise<void>;
}

/** Text of a message (string or parts). */
export function textOf(m: ChatMessage | undefined): string {
  if (m === undefined) return '';
  const c = m.content;
  return typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text ?? '').join('') : '';
}

/** The conversation's last message that is not a system turn. */
export function lastTurn(req: GenerationRequest): ChatMessage | undefined {
  if (req.prompt.kind !== 'chat') return undefined;
  return [...req.prompt.messages].reverse().find((m) => m.role !== 'system');
}

/** Kimi's native call, as the model writes it (the id numbers the calls of the conversation). */
export function kimiCall(req: GenerationRequest, name: string, args: Record<string, unknown>): string {
  const n = req.prompt.kind === 'chat' ? req.prompt.messages.reduce((k, m) => k + (m.tool_calls?.length ?? 0), 0) : 0;
  return `<|tool_calls_section_begin|><|tool_call_begin|>functions.${name}:${n}<|tool_call_argument_begin|>${JSON.stringify(args)}<|tool_call_end|><|tool_calls_section_end|>`;
}

/**
 * Starts the server with the synthesized model (also named by `aliases`, e.g. "claude-*"), a
 * scripted sampler choosing the model's text per request with `script`, and the recording proxy.
 */
export async function startClientServer(model: string, script: (req: GenerationRequest) => string, opts: Partial<ServeOptions> & { aliases?: string[] } = {}): Promise<ClientServer> {
  const answered: GenerationRequest[] = [];
  const logs: string[] = [];
  const server = await startServer({
    models: [{ path: model, aliases: opts.aliases ?? [] }],
    port: 0,
    memoryBytes: 2 * 2 ** 30,
    promptCacheBytes: 256 * 2 ** 20,
    apiKey: API_KEY,
    samplerFor: (req, m: ServedModel): TokenSampler => {
      answered.push(req);
      const text = script(req);
      return new ScriptedSampler(m.tokenizer.encode(text, { special: true }), m.stopTokens[0]!, { text });
    },
    log: (line) => logs.push(line),
    ...opts,
  });
  const recorded: Recorded[] = [];
  const proxy = await recordingProxy(server.port, recorded);
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return {
    server,
    url,
    recorded,
    answered,
    logs,
    close: async () => {
      await new Promise<void>((r) => proxy.close(() => r()));
      proxy.closeAllConnections();
      await server.close();
    },
  };
}

/** Forwards every request to the server unchanged (Host set to the server's), streaming the answer back, and keeps a copy. */
function recordingProxy(target: number, recorded: Recorded[]): Promise<Server> {
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: unknown = null;
      try {
        body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : null;
      } catch {
        body = '<not JSON>';
      }
      const entry: Recorded = { method: req.method!, url: req.url!, headers: req.headers, body, at: performance.now() };
      recorded.push(entry);
      const upstream = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${target}` } }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
        up.on('end', () => (entry.done = performance.now()));
      });
      upstream.on('error', () => res.destroy());
      upstream.end(raw);
    });
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy)));
}

/** Environment for a headless client: nothing of the user's, no traffic but loopback. */
export function isolatedEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'LANG', 'TERM', 'TMPDIR', 'SYSTEMROOT'];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...extra };
}

/** The installed version of an npm package (for the fixture header and the benchmark table). */
export function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

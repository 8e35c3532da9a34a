// `mlxk serve MODEL...`: OpenAI- and Anthropic-compatible HTTP endpoints for the given models,
// under one memory budget. Logs one line per request on stderr.
import { totalmem } from 'node:os';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { MlxkError } from '../io/errors.js';
import type { ToolCallFormat } from '../protocol/types.js';
import { parseHost } from '../server/guard.js';
import { ENGINES, type EngineName, type ModelSpec } from '../server/registry.js';
import { DEFAULTS, defaultPromptCacheBytes, startServer } from '../server/serve.js';
import { addBackendOption, backendArg, repeatable } from './commonOptions.js';
import { gib, parseBytes } from './units.js';

interface ServeFlags {
  host: string;
  port: string;
  memory?: string;
  promptCacheBytes?: string;
  apiKey?: string;
  maxActive: string;
  maxQueue: string;
  backend?: string;
  alias?: string[];
  engine?: string[];
  mlxLmPython?: string;
  toolParser?: string;
  prefillChunk?: string;
  allowedHosts?: string[];
  corsOrigin?: string[];
  healthDetails?: boolean;
  maxBody?: string;
  quiet?: boolean;
}

const TOOL_PARSERS = ['kimi_k2', 'hermes', 'qwen3_coder', 'none'] as const;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

function integer(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new MlxkError(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

/** --alias NAME=MODEL: MODEL is one of the served models (as given, or its directory name), else it is served too. */
export function modelSpecs(models: readonly string[], aliases: readonly string[]): ModelSpec[] {
  const specs: ModelSpec[] = models.map((path) => ({ path, aliases: [] }));
  for (const a of aliases) {
    const eq = a.indexOf('=');
    if (eq <= 0 || eq === a.length - 1) throw new MlxkError(`--alias expects NAME=MODEL, got "${a}"`);
    const name = a.slice(0, eq);
    const target = a.slice(eq + 1);
    let spec = specs.find((s) => s.path === target || basename(resolve(s.path)) === target || resolve(s.path) === resolve(target));
    if (!spec) {
      spec = { path: target, aliases: [] };
      specs.push(spec);
    }
    spec.aliases!.push(name);
  }
  return specs;
}

function engineName(v: string, flag: string): EngineName {
  if (!(ENGINES as readonly string[]).includes(v)) throw new MlxkError(`${flag} must be one of ${ENGINES.join(', ')} (or MODEL=ENGINE), got "${v}"`);
  return v as EngineName;
}

/** --engine ENGINE (every model) and --engine MODEL=ENGINE (one model, named as for --alias); later ones win. */
export function applyEngines(specs: ModelSpec[], engines: readonly string[]): ModelSpec[] {
  for (const e of engines) {
    const eq = e.lastIndexOf('=');
    if (eq < 0) {
      const name = engineName(e, '--engine');
      for (const s of specs) s.engine = name;
      continue;
    }
    const target = e.slice(0, eq);
    const spec = specs.find((s) => s.path === target || basename(resolve(s.path)) === target || resolve(s.path) === resolve(target) || s.aliases?.includes(target));
    if (!spec) throw new MlxkError(`--engine ${e}: "${target}" is not one of the served models (${specs.map((s) => s.path).join(', ')})`);
    spec.engine = engineName(e.slice(eq + 1), `--engine ${target}=`);
  }
  return specs;
}

/** A size with a unit (8GiB), or a bare number of bytes (parseBytes reads bare numbers as GiB). */
function sizeInBytes(v: string, flag: string): number {
  return /^\s*\d+\s*$/.test(v) ? Number(v) : parseBytes(v, flag);
}

function maxBody(v: string): number {
  const n = Math.floor(sizeInBytes(v, '--max-body'));
  if (!(n >= 1024)) throw new MlxkError(`--max-body must be at least 1KiB, got "${v}"`);
  return n;
}

function cacheBytes(v: string): number {
  return sizeInBytes(v, '--prompt-cache-bytes');
}

function toolParserFrom(v: string | undefined): ToolCallFormat | null | undefined {
  if (v === undefined) return undefined;
  if (!(TOOL_PARSERS as readonly string[]).includes(v)) throw new MlxkError(`--tool-parser must be one of ${TOOL_PARSERS.join(', ')}, got "${v}"`);
  return v === 'none' ? null : (v as ToolCallFormat);
}

/** --allowed-hosts NAME[,NAME…] (repeatable): host names or name:port pairs, or "*". */
export function allowedHostsArg(values: readonly string[]): string[] {
  const hosts = values.flatMap((v) => v.split(',')).map((h) => h.trim()).filter((h) => h.length > 0);
  for (const h of hosts) {
    if (h !== '*' && parseHost(h) === undefined) throw new MlxkError(`--allowed-hosts: "${h}" is not a host name, address or name:port`);
  }
  return hosts;
}

/** --cors-origin ORIGIN (repeatable): scheme://host[:port] as a browser sends it, or "*". */
export function corsOriginsArg(values: readonly string[]): string[] {
  for (const o of values) {
    if (o !== '*' && !/^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+\/?$/i.test(o)) throw new MlxkError(`--cors-origin: "${o}" is not an origin such as http://localhost:3000`);
  }
  return [...values];
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve models over OpenAI (/v1/chat/completions, /v1/completions) and Anthropic (/v1/messages) HTTP APIs')
    .argument('<models...>', 'model directories or HF cache ids; requests pick one by its directory name, id or alias')
    .option('--host <addr>', 'address to listen on; anything but loopback lets other machines connect', DEFAULTS.host)
    .option('--port <n>', 'port to listen on', String(DEFAULTS.port))
    .option('--memory <size>', 'memory for model weights and the prompt cache together; models beyond it load on demand, least recently used ones unload (default: 90% of RAM)')
    .option('--prompt-cache-bytes <size>', 'cap of the prompt (prefix) cache, taken out of --memory: bytes, or a size such as 8GiB; 0 turns it off (default: 1/8 of --memory, at most 16GiB)')
    .option('--api-key <key>', 'require this key as "Authorization: Bearer KEY" or "x-api-key: KEY" (default: $MLXK_API_KEY, else none)')
    .option('--max-active <n>', 'requests generating at once, one step each in turn', String(DEFAULTS.maxActive))
    .option('--max-queue <n>', 'requests waiting beyond those; more get 429 (Anthropic: 529 overloaded_error)', String(DEFAULTS.maxQueue))
    .option('--alias <name=model>', 'another name for a model (repeatable); a name ending in * matches by prefix, e.g. "claude-*=kimi"', repeatable)
    .option('--engine <engine>', `who runs the models: mlxk (its own backends, default) or mlx-lm (an mlx_lm worker process per model, MLX's Metal kernels on a Mac; mlxk keeps the APIs, templates and parsers); MODEL=ENGINE for one model (repeatable)`, repeatable)
    .option('--mlx-lm-python <path>', 'Python with mlx-lm installed, for --engine mlx-lm (default: $MLXK_MLX_LM_PYTHON, else python3)')
    .option('--tool-parser <format>', `tool-call format for all models instead of the one read from the chat template (${TOOL_PARSERS.join(', ')})`)
    .option('--prefill-chunk <n>', 'prompt tokens per step; other requests run between chunks')
    .option('--allowed-hosts <names>', 'Host header names (or name:port) accepted besides localhost, 127.0.0.1, [::1] and the --host address, comma-separated, repeatable; "*" accepts any (requests for other names are refused: DNS rebinding)', repeatable)
    .option('--cors-origin <origin>', 'let web pages from this origin (e.g. http://localhost:3000) call the server, with CORS headers (repeatable; "*" for any); other pages are refused', repeatable)
    .option('--max-body <size>', 'largest request body (bytes, or a size such as 32MiB); larger ones get 413 (default: 4MiB + 16 bytes per token of the largest context, at least 6MiB)')
    .option('--health-details', 'show model directories (local paths) in GET /health')
    .option('--quiet', 'no per-request log lines');
  addBackendOption(cmd)
    .action(async (models: string[], flags: ServeFlags) => {
      const memoryBytes = flags.memory === undefined ? Math.floor(totalmem() * 0.9) : parseBytes(flags.memory, '--memory');
      const promptCacheBytes = flags.promptCacheBytes === undefined ? defaultPromptCacheBytes(memoryBytes) : cacheBytes(flags.promptCacheBytes);
      const backend = backendArg(flags.backend);
      const apiKey = flags.apiKey ?? (process.env.MLXK_API_KEY || undefined);
      const toolParser = toolParserFrom(flags.toolParser);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const server = await startServer({
        models: applyEngines(modelSpecs(models, flags.alias ?? []), flags.engine ?? []),
        ...(flags.mlxLmPython !== undefined ? { workerLaunch: { python: flags.mlxLmPython } } : {}),
        host: flags.host,
        port: integer('--port', flags.port, 0),
        memoryBytes,
        promptCacheBytes,
        ...(apiKey !== undefined ? { apiKey } : {}),
        maxActive: integer('--max-active', flags.maxActive, 1),
        maxQueue: integer('--max-queue', flags.maxQueue, 0),
        ...(backend ? { backend } : {}),
        ...(toolParser !== undefined ? { toolParser } : {}),
        ...(flags.prefillChunk !== undefined ? { prefillChunk: integer('--prefill-chunk', flags.prefillChunk, 1) } : {}),
        allowedHosts: allowedHostsArg(flags.allowedHosts ?? []),
        corsOrigins: corsOriginsArg(flags.corsOrigin ?? []),
        healthDetails: flags.healthDetails ?? false,
        ...(flags.maxBody !== undefined ? { maxBodyBytes: maxBody(flags.maxBody) } : {}),
        log: flags.quiet ? () => {} : log,
      });
      for (const m of server.registry.models) {
        log(`model ${m.names.join(', ')}${m.spec.aliases?.some((a) => a.endsWith('*')) ? `, ${m.spec.aliases.filter((a) => a.endsWith('*')).join(', ')}` : ''}: ${gib(m.weightBytes, 2)}, context ${m.maxContext}, ${m.engine === 'mlx-lm' ? 'engine mlx-lm, ' : ''}${m.loaded ? 'loaded' : 'loads on demand'}`);
        const metal = m.engine === 'mlx-lm' || backend === 'mlx';
        if (process.platform === 'darwin' && metal && m.weightBytes > 0.75 * totalmem()) {
          log(`  its weights exceed macOS's default GPU wired limit (~75% of RAM); for the Metal engine (${m.engine === 'mlx-lm' ? 'mlx-lm' : '--backend mlx'}) raise it: sudo sysctl iogpu.wired_limit_mb=${Math.floor((totalmem() - 8 * 2 ** 30) / 2 ** 20)} (mlxk plan shows the numbers; the native backend needs none)`);
        }
      }
      log(`memory: ${gib(server.registry.budgetBytes, 1)} for weights + ${gib(promptCacheBytes, 1)} prompt cache; ${server.scheduler.opts.maxActive} requests at once, ${server.scheduler.opts.maxQueue} queued`);
      if (!LOOPBACK.has(flags.host) && apiKey === undefined) log(`warning: listening on ${flags.host} without --api-key: anyone who can reach this address can use the models`);
      if (!LOOPBACK.has(flags.host) && flags.allowedHosts === undefined) log(`note: requests must be addressed to ${flags.host === '0.0.0.0' || flags.host === '::' ? 'a loopback name' : `${flags.host} or a loopback name`} (Host header); add --allowed-hosts NAME for the names other machines use`);
      log(`mlxk serve: listening on ${server.url} (OpenAI base URL ${server.url}/v1, Anthropic base URL ${server.url})`);
      const stop = () => {
        log('mlxk serve: shutting down');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

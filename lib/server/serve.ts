// startServer: models, prompt cache, scheduler and the express app, listening on a socket.
// `mlxk serve` is this plus flags; tests and benchmarks start it in-process on port 0.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { BackendName } from '../backend/index.js';
import { PromptCache } from '../engine/promptCache.js';
import { Scheduler } from '../engine/scheduler.js';
import { DEFAULT_PREFILL_CHUNK } from '../engine/sequence.js';
import type { WorkerLaunch } from '../engine/remote/workerProcess.js';
import { MlxkError } from '../io/errors.js';
import type { ToolCallFormat } from '../protocol/types.js';
import { createApp, defaultMaxBody } from './app.js';
import { PromptWorkers } from './promptWorker.js';
import { ResponseStore, type ResponseStoreOptions } from './openai/responseStore.js';
import type { TokenSampler } from './job.js';
import { type ModelSpec, ModelRegistry, type ServedModel } from './registry.js';
import type { ServerContext } from './routes.js';
import type { GenerationRequest } from './types.js';

export interface ServeOptions {
  models: ModelSpec[];
  /** Default 127.0.0.1: only this machine can connect. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Memory for model weights and the prompt cache together. */
  memoryBytes: number;
  /** The prompt cache's share of memoryBytes. Default: an eighth of it, at most 16 GiB. */
  promptCacheBytes?: number;
  apiKey?: string;
  /** Host names accepted besides loopback and the listen address ("*": any); see guard.ts. */
  allowedHosts?: string[];
  /** Web page origins allowed to call the server (CORS); none by default. */
  corsOrigins?: string[];
  /** /health shows model directories. */
  healthDetails?: boolean;
  /** Requests interleaved step by step. Default 4. */
  maxActive?: number;
  /** Requests waiting for a slot; more are refused (429 / overloaded). Default 32. */
  maxQueue?: number;
  backend?: BackendName;
  /** How mlx-lm workers start, for models served with engine mlx-lm. */
  workerLaunch?: WorkerLaunch;
  toolParser?: ToolCallFormat | null;
  prefillChunk?: number;
  keepAliveMs?: number;
  /** Load the models that fit at startup (default true); otherwise each loads on its first request. */
  preload?: boolean;
  samplerFor?: (req: GenerationRequest, model: ServedModel) => TokenSampler | undefined;
  /** Largest request body in bytes (413 beyond it). Default: defaultMaxBody of the served contexts. */
  maxBodyBytes?: number;
  /** Bounds of the Responses API's store for previous_response_id. */
  responseStore?: ResponseStoreOptions;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  registry: ModelRegistry;
  scheduler: Scheduler;
  promptCache: PromptCache;
  close(): Promise<void>;
}

export const DEFAULTS = { host: '127.0.0.1', port: 8080, maxActive: 4, maxQueue: 32, keepAliveMs: 5000 };

export function defaultPromptCacheBytes(memoryBytes: number): number {
  return Math.min(16 * 2 ** 30, Math.floor(memoryBytes / 8));
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const log = o.log ?? (() => {});
  const cacheBytes = o.promptCacheBytes ?? defaultPromptCacheBytes(o.memoryBytes);
  if (!(cacheBytes >= 0) || cacheBytes >= o.memoryBytes) {
    throw new MlxkError(`the prompt cache (${cacheBytes} bytes) must be smaller than the memory budget (${o.memoryBytes} bytes)`, 'lower --prompt-cache-bytes or raise --memory');
  }
  const promptCache = new PromptCache(cacheBytes);
  const registry = ModelRegistry.open(o.models, {
    budgetBytes: o.memoryBytes - cacheBytes,
    ...(o.backend ? { backend: o.backend } : {}),
    ...(o.workerLaunch ? { workerLaunch: o.workerLaunch } : {}),
    ...(o.toolParser !== undefined ? { toolParser: o.toolParser } : {}),
    onUnload: (m) => promptCache.dropModel(m.id),
    log,
  });
  if (o.preload ?? true) {
    try {
      await registry.preload();
    } catch (e) {
      await registry.close();
      throw e;
    }
  }
  const scheduler = new Scheduler({ maxActive: o.maxActive ?? DEFAULTS.maxActive, maxQueue: o.maxQueue ?? DEFAULTS.maxQueue });
  const prefillChunk = o.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
  if (!Number.isInteger(prefillChunk) || prefillChunk < 1) throw new MlxkError(`the prefill chunk must be a positive integer, got ${prefillChunk}`);
  const ctx: ServerContext = {
    registry,
    scheduler,
    promptCache,
    prefillChunk,
    keepAliveMs: o.keepAliveMs ?? DEFAULTS.keepAliveMs,
    ...(o.samplerFor ? { samplerFor: o.samplerFor } : {}),
    log,
    startedAt: Math.floor(Date.now() / 1000),
    responses: new ResponseStore(o.responseStore),
    prompts: new PromptWorkers(),
  };
  for (const m of registry.models) ctx.prompts.warm(m.dir);
  const host = o.host ?? DEFAULTS.host;
  const app = createApp(ctx, {
    ...(o.apiKey !== undefined ? { apiKey: o.apiKey } : {}),
    guard: { listenHost: host, ...(o.allowedHosts ? { allowedHosts: o.allowedHosts } : {}), ...(o.corsOrigins ? { corsOrigins: o.corsOrigins } : {}) },
    healthDetails: o.healthDetails ?? false,
    bodyLimitBytes: o.maxBodyBytes ?? defaultMaxBody(registry.models.map((m) => m.maxContext)),
  });
  const server = await listen(app, host, o.port ?? DEFAULTS.port).catch(async (e: unknown) => {
    await Promise.all([registry.close(), ctx.prompts.close()]);
    throw e;
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    registry,
    scheduler,
    promptCache,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      });
      await Promise.all([registry.close(), ctx.prompts.close()]);
    },
  };
}

function listen(app: ReturnType<typeof createApp>, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new MlxkError(`${host}:${port} is already in use`, 'pick another --port') : e.code === 'EADDRNOTAVAIL' ? new MlxkError(`cannot listen on ${host}: no such address on this machine`) : e);
    });
  });
}

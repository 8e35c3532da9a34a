// Route handlers: a request body through translation (400), routing (404), prompt preparation
// and the context check (413 / clamp), into the scheduler's queue (429), and the job's progress
// back out through a Responder.
import type { Request, Response } from 'express';
import { Sampler, type SamplingOptions } from '../engine/sampler.js';
import type { PromptCache } from '../engine/promptCache.js';
import type { Scheduler } from '../engine/scheduler.js';
import { randomId } from '../protocol/ids.js';
import { parseMessagesRequest } from './anthropic/messagesRequest.js';
import { countTokensObject } from './anthropic/writers.js';
import { contextOverflow, modelNotFound, overloaded } from './errors.js';
import { RemoteGenerationJob } from './engines/remoteJob.js';
import { GenerationJob, type JobOptions, type TokenSampler } from './job.js';
import { parseChatRequest } from './openai/chatRequest.js';
import { parseCompletionRequest } from './openai/completionRequest.js';
import type { ResponseStore } from './openai/responseStore.js';
import { parseResponsesRequest } from './openai/responsesRequest.js';
import { type PreparedPrompt, tokenDescriber } from './prompt.js';
import type { PromptWorkers, WorkerPrompt } from './promptWorker.js';
import type { ModelRegistry, ServedModel } from './registry.js';
import { Responder, sendError, type ErrorStyle } from './responder.js';
import { startTurn } from './respond.js';
import type { GenerationEnd, GenerationRequest } from './types.js';

export interface ServerContext {
  registry: ModelRegistry;
  scheduler: Scheduler;
  promptCache: PromptCache;
  /** Prompt tokens run per step (other requests' steps come between chunks). */
  prefillChunk: number;
  keepAliveMs: number;
  /** Chooses tokens instead of the request's sampler when it returns one (tests, tools). */
  samplerFor?: (req: GenerationRequest, model: ServedModel) => TokenSampler | undefined;
  log: (line: string) => void;
  /** Unix seconds the server started (the `created` of listed models). */
  startedAt: number;
  /** Responses kept for previous_response_id. */
  responses: ResponseStore;
  /** Prompts are rendered and tokenized here, off the event loop. */
  prompts: PromptWorkers;
}

export type GenerationApi = 'chat' | 'completions' | 'responses' | 'messages';

const PARSERS: Record<GenerationApi, (body: unknown, ctx: ServerContext) => GenerationRequest> = {
  chat: parseChatRequest,
  completions: parseCompletionRequest,
  responses: (b, ctx) => parseResponsesRequest(b, ctx.responses),
  messages: (b) => parseMessagesRequest(b),
};

export function resolveModel(ctx: ServerContext, name: string): ServedModel {
  const m = ctx.registry.resolve(name);
  if (!m) throw modelNotFound(name, ctx.registry.names);
  return m;
}

/**
 * The completion budget for a prompt: the request's max tokens clamped to the context left; a
 * prompt that leaves no room for one token is refused (413, Anthropic "prompt is too long").
 */
export function fitContext(promptTokens: number, maxTokens: number | undefined, contextLength: number): number {
  const room = contextLength - promptTokens;
  if (room < 1) throw contextOverflow({ promptTokens, maxTokens: maxTokens ?? 0, contextLength });
  return maxTokens === undefined ? room : Math.min(maxTokens, room);
}

/** thinking.budget_tokens becomes a job option when the model marks its reasoning (else there is nothing to cap). */
function thinkingBudget(req: GenerationRequest, prepared: Pick<PreparedPrompt, 'parser'>, model: ServedModel): Pick<JobOptions, 'thinkingBudget'> {
  const tokens = req.thinking?.budgetTokens;
  const markers = prepared.parser.reasoning;
  if (tokens === undefined || markers === undefined) return {};
  return { thinkingBudget: { tokens, closeIds: model.tokenizer.encode(markers.end, { special: true }) } };
}

function samplerFor(ctx: ServerContext, req: GenerationRequest, model: ServedModel): TokenSampler {
  return ctx.samplerFor?.(req, model) ?? new Sampler(samplingOptions(req, model));
}

/** The request's sampling settings over the model's generation_config defaults. */
function samplingOptions(req: GenerationRequest, model: ServedModel): SamplingOptions {
  const s = req.sampling;
  const d = model.defaults;
  return {
    temperature: s.temperature ?? d.temperature ?? 1,
    topP: s.topP ?? d.topP ?? 1,
    topK: s.topK ?? d.topK ?? 0,
    minP: s.minP ?? 0,
    repetitionPenalty: s.repetitionPenalty ?? 1,
    presencePenalty: s.presencePenalty ?? 0,
    frequencyPenalty: s.frequencyPenalty ?? 0,
    ...(s.logitBias ? { logitBias: s.logitBias } : {}),
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
  };
}

/** The request's prompt, prepared in the model's prompt worker. */
function prepare(ctx: ServerContext, model: ServedModel, request: GenerationRequest): Promise<WorkerPrompt> {
  return ctx.prompts.prepare(model.dir, { request, format: model.format, contextLength: model.maxContext });
}

export function generationHandler(ctx: ServerContext, api: GenerationApi) {
  const style: ErrorStyle = api === 'messages' ? 'anthropic' : 'openai';
  return async (req: Request, res: Response): Promise<void> => {
    const id = randomId('req_');
    const arrived = performance.now();
    res.setHeader('x-request-id', id);
    res.setHeader('request-id', id);
    let job: GenerationJob | RemoteGenerationJob;
    let responder: Responder;
    let model: ServedModel;
    try {
      const request = PARSERS[api](req.body, ctx);
      model = resolveModel(ctx, request.model);
      const prepared = await prepare(ctx, model, request);
      const maxTokens = fitContext(prepared.ids.length, request.maxTokens, model.maxContext);
      const turn = startTurn(request, prepared, { describeToken: tokenDescriber(model.tokenizer), responseStore: ctx.responses });
      responder = new Responder(res, turn, {
        style,
        keepAliveMs: ctx.keepAliveMs,
        onDone: (o) => ctx.log(logLine(req, id, model.id, o.status, job, arrived, o.end, o.error)),
      });
      const common = { id, model, registry: ctx.registry, promptIds: Array.from(prepared.ids), maxTokens, sink: responder, ...(request.logprobs ? { logprobsTop: request.logprobs.top } : {}), ...thinkingBudget(request, prepared, model) };
      job =
        model.engine === 'mlx-lm'
          ? new RemoteGenerationJob({ ...common, sampling: samplingOptions(request, model) })
          : new GenerationJob({ ...common, promptCache: ctx.promptCache, sampler: samplerFor(ctx, request, model), prefillChunk: ctx.prefillChunk });
      if (!ctx.scheduler.submit(job)) throw overloaded(ctx.scheduler.queuedCount);
    } catch (e) {
      const status = sendError(res, style, e);
      ctx.log(`${req.method} ${req.path} ${id} ${status} ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    // submit only queued the job: its first step runs after this handler returns, so the stream
    // opens first; a refused job never opened one and got its 429 as JSON above.
    responder.open();
    const gone = () => {
      if (res.writableFinished || job.cancelled) return;
      job.cancel();
      responder.abandon();
      ctx.log(`${logLine(req, id, model.id, 499, job, arrived)} (client closed the connection; generation stopped)`);
    };
    res.on('close', gone);
    if (req.socket.destroyed) gone();
  };
}

export function countTokensHandler(ctx: ServerContext) {
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const request = parseMessagesRequest(req.body, { countTokens: true });
      const model = resolveModel(ctx, request.model);
      res.json(countTokensObject((await prepare(ctx, model, request)).ids.length));
    } catch (e) {
      sendError(res, 'anthropic', e);
    }
  };
}

/** GET /v1/models in OpenAI's shape, or Anthropic's when the client sends anthropic-version. */
export function modelsHandler(ctx: ServerContext) {
  return (req: Request, res: Response): void => {
    const ids = ctx.registry.models.flatMap((m) => [m.id, ...(m.spec.aliases ?? []).filter((a) => !a.endsWith('*'))]);
    if (req.get('anthropic-version') !== undefined) {
      const created = new Date(ctx.startedAt * 1000).toISOString();
      res.json({ data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: created })), has_more: false, first_id: ids[0] ?? null, last_id: ids[ids.length - 1] ?? null });
      return;
    }
    res.json({ object: 'list', data: ids.map((id) => ({ id, object: 'model', created: ctx.startedAt, owned_by: 'mlxk' })) });
  };
}

export function modelHandler(ctx: ServerContext) {
  return (req: Request, res: Response): void => {
    const id: unknown = req.params.id;
    const name = Array.isArray(id) ? id.join('/') : String(id);
    const anthropic = req.get('anthropic-version') !== undefined;
    try {
      const m = resolveModel(ctx, name);
      if (anthropic) res.json({ type: 'model', id: name, display_name: m.id, created_at: new Date(ctx.startedAt * 1000).toISOString() });
      else res.json({ id: name, object: 'model', created: ctx.startedAt, owned_by: 'mlxk' });
    } catch (e) {
      sendError(res, anthropic ? 'anthropic' : 'openai', e);
    }
  };
}

/** Server state; model directories (local paths) only with `details` (--health-details). */
export function healthHandler(ctx: ServerContext, details: boolean) {
  return (_req: Request, res: Response): void => {
    res.json({
      status: 'ok',
      models: ctx.registry.models.map((m) => ({ id: m.id, ...(details ? { dir: m.dir } : {}), loaded: m.loaded, in_use: m.users, loads: m.loads, weight_bytes: m.weightBytes, context_length: m.maxContext })),
      // resident_bytes: model weights in memory; process_rss_bytes: the whole process (weights,
      // prompt cache, requests), to hold against prompt_cache.bytes.
      memory: { budget_bytes: ctx.registry.budgetBytes, resident_bytes: ctx.registry.residentBytes, process_rss_bytes: process.memoryUsage.rss() },
      requests: { active: ctx.scheduler.activeCount, queued: ctx.scheduler.queuedCount },
      prompt_cache: promptCacheJson(ctx.promptCache),
      stored_responses: storedResponsesJson(ctx.responses),
    });
  };
}

function promptCacheJson(cache: PromptCache): Record<string, number> {
  const s = cache.stats;
  return { entries: s.entries, bytes: s.bytes, cap_bytes: s.capBytes, hits: s.hits, misses: s.misses, reused_tokens: s.reusedTokens, evictions: s.evictions };
}

function storedResponsesJson(store: ResponseStore): Record<string, number> {
  const s = store.stats;
  return { entries: s.entries, bytes: s.bytes, cap_bytes: s.capBytes };
}

function logLine(req: Request, id: string, model: string, status: number, job: GenerationJob | RemoteGenerationJob | undefined, arrived: number, end?: GenerationEnd, error?: unknown): string {
  const parts = [`${req.method} ${req.path}`, id, model, String(status)];
  if (job) {
    const u = job.usage;
    const t = job.timing;
    parts.push(`prompt ${u.promptTokens} (${u.cachedTokens} cached)`, `completion ${u.completionTokens}`);
    if (t.firstToken) parts.push(`first token ${((t.firstToken - arrived) / 1000).toFixed(2)} s`);
    if (t.firstToken && t.ended && u.completionTokens > 1) parts.push(`${((u.completionTokens - 1) / ((t.ended - t.firstToken) / 1000)).toFixed(1)} tokens/s`);
  }
  if (end) parts.push(`end ${end.reason}`);
  if (error) parts.push(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return parts.join(' | ');
}

// The express app: OpenAI routes (/v1/models, /v1/chat/completions, /v1/completions,
// /v1/responses), Anthropic routes (/v1/messages, /v1/messages/count_tokens), /health; the browser
// guard (guard.ts), the optional API key; and errors that never leave a request without an answer
// in its API's JSON shape.
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ApiError } from './errors.js';
import { browserGuard, type GuardOptions, requireJson } from './guard.js';
import { sendError, type ErrorStyle } from './responder.js';
import { countTokensHandler, generationHandler, healthHandler, modelHandler, modelsHandler, type ServerContext } from './routes.js';

export interface AppOptions {
  /** Required from clients as "Authorization: Bearer KEY" or "x-api-key: KEY" on /v1 routes. */
  apiKey?: string;
  /** Largest request body (agents send long histories and many tool definitions). */
  bodyLimitBytes?: number;
  /** Hosts and origins beyond loopback (guard.ts). */
  guard?: GuardOptions;
  /** /health names each model's directory. */
  healthDetails?: boolean;
}

const POST_ROUTES = ['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/messages', '/v1/messages/count_tokens'];

/** Without served models to size it by: as for a 128K-token context (6 MiB). */
export const DEFAULT_BODY_LIMIT = defaultMaxBody([]);

/**
 * 4 MiB beyond 16 bytes per token of the largest context (at least 128K tokens): room for JSON
 * escapes and tool definitions around a full context (Kimi's 256K tokens: 8 MiB), while reading
 * and parsing the largest body stays in tens of milliseconds on the event loop.
 */
export function defaultMaxBody(contextLengths: readonly number[]): number {
  return 4 * 2 ** 20 + 16 * Math.max(128 * 1024, ...contextLengths);
}

/** Anthropic routes and clients (anthropic-version header) get Anthropic's error shape. */
export function errorStyle(req: Request): ErrorStyle {
  return req.path.startsWith('/v1/messages') || req.get('anthropic-version') !== undefined ? 'anthropic' : 'openai';
}

export function createApp(ctx: ServerContext, opts: AppOptions = {}): express.Express {
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const app = express();
  app.disable('x-powered-by');
  app.use(browserGuard(opts.guard ?? {}, errorStyle));
  app.use(requireKey(opts.apiKey));
  app.get('/health', healthHandler(ctx, opts.healthDetails ?? false));
  // JSON only: a browser can send text/plain or form bodies cross-origin without asking first.
  app.post(POST_ROUTES, requireJson(errorStyle));
  app.use(express.json({ limit: bodyLimit, type: () => true }));
  app.get('/v1/models', modelsHandler(ctx));
  // A wildcard: Hugging Face style ids (org/name) arrive with their slash unescaped.
  app.get('/v1/models/*id', modelHandler(ctx));
  app.post('/v1/chat/completions', generationHandler(ctx, 'chat'));
  app.post('/v1/completions', generationHandler(ctx, 'completions'));
  app.post('/v1/responses', generationHandler(ctx, 'responses'));
  app.post('/v1/messages', generationHandler(ctx, 'messages'));
  app.post('/v1/messages/count_tokens', countTokensHandler(ctx));
  app.use((req: Request, res: Response) => {
    const message = `no route ${req.method} ${req.path} (routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, POST /v1/responses, POST /v1/messages, POST /v1/messages/count_tokens, GET /health)`;
    if (errorStyle(req) === 'anthropic') res.status(404).json({ type: 'error', error: { type: 'not_found_error', message } });
    else res.status(404).json({ error: { message, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    sendError(res, errorStyle(req), bodyError(err, bodyLimit));
    if (!(err instanceof ApiError) && !isClientError(err)) ctx.log(`${req.method} ${req.path} 500 ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  });
  return app;
}

function requireKey(key: string | undefined) {
  const want = key === undefined ? null : digest(key);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (want === null) return next();
    const bearer = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const offered = [req.get('x-api-key'), bearer].filter((k): k is string => k !== undefined);
    if (offered.some((k) => timingSafeEqual(digest(k), want))) return next();
    const message = offered.length === 0 ? 'this server needs an API key: send "Authorization: Bearer KEY" or "x-api-key: KEY"' : 'invalid API key';
    sendError(res, errorStyle(req), new ApiError('authentication', message));
  };
}

/** Equal-length digests, so the comparison time says nothing about the key. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

interface HttpishError {
  type?: string;
  status?: number;
  message?: string;
}

function isClientError(err: unknown): boolean {
  const status = (err as HttpishError | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** body-parser's errors in the APIs' terms. */
function bodyError(err: unknown, limit: number): unknown {
  const e = (err ?? {}) as HttpishError;
  if (e.type === 'entity.parse.failed') return new ApiError('invalid_request', `the request body is not valid JSON (${e.message})`);
  if (e.type === 'entity.too.large') return new ApiError('too_large', `the request body is larger than this server's limit of ${limit} bytes (mlxk serve --max-body)`);
  if (isClientError(err)) return new ApiError('invalid_request', e.message ?? 'bad request');
  return err;
}

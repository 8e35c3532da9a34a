// The wire between mlxk and a model worker process (python/mlx_lm_worker.py; the tests' stand-in
// speaks it too): token ids in, token ids out, as server-sent events. mlxk keeps tokenization,
// templates and parsing, so nothing here is text.
import type { SamplingOptions } from '../sampler.js';

export interface WorkerRequest {
  prompt: number[];
  max_tokens: number;
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
  seed?: number;
  repetition_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  logit_bias?: Record<string, number>;
  /** Top alternatives per token (0: only the sampled token's logprob); absent: no logprobs. */
  logprobs?: number;
  /** Tokens that end generation (not sent back as tokens). */
  stop_token_ids: number[];
}

export type WorkerEvent =
  | { event: 'prefill'; cached_tokens: number; total: number }
  | { event: 'token'; id: number; logprob?: number; top?: [number, number][] }
  | { event: 'end'; reason: 'stop' | 'length' }
  | { event: 'error'; message: string };

/** The first stdout line of a worker that is ready. */
export interface WorkerHello {
  port: number;
  [version: string]: unknown;
}

/** mlxk's sampling settings in the worker's terms (mlx-lm's make_sampler / make_logits_processors). */
export function workerSampling(s: SamplingOptions): Omit<WorkerRequest, 'prompt' | 'max_tokens' | 'stop_token_ids'> {
  const r: ReturnType<typeof workerSampling> = { temperature: s.temperature ?? 1, top_p: s.topP ?? 1, top_k: s.topK ?? 0, min_p: s.minP ?? 0 };
  if (s.seed !== undefined) r.seed = s.seed;
  if (s.repetitionPenalty !== undefined && s.repetitionPenalty !== 1) r.repetition_penalty = s.repetitionPenalty;
  if (s.presencePenalty) r.presence_penalty = s.presencePenalty;
  if (s.frequencyPenalty) r.frequency_penalty = s.frequencyPenalty;
  if (s.logitBias && Object.keys(s.logitBias).length > 0) r.logit_bias = Object.fromEntries(Object.entries(s.logitBias).map(([k, v]) => [k, v]));
  return r;
}

/** Parses one `data:` payload; anything else is a protocol error naming the line. */
export function parseWorkerEvent(line: string): WorkerEvent {
  let e: unknown;
  try {
    e = JSON.parse(line);
  } catch {
    throw new Error(`model worker sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
  const ev = e as WorkerEvent;
  const ok =
    typeof e === 'object' &&
    e !== null &&
    ((ev.event === 'token' && Number.isInteger(ev.id)) || (ev.event === 'prefill' && Number.isInteger(ev.cached_tokens)) || (ev.event === 'end' && (ev.reason === 'stop' || ev.reason === 'length')) || (ev.event === 'error' && typeof ev.message === 'string'));
  if (!ok) throw new Error(`model worker sent an unknown event: ${line.slice(0, 200)}`);
  return ev;
}

/**
 * POSTs a request and yields its events as they arrive. Aborting `signal` closes the connection,
 * which is how the worker learns to stop. A refused request throws with the worker's message.
 */
export async function* streamGenerate(baseUrl: string, req: WorkerRequest, signal: AbortSignal): AsyncGenerator<WorkerEvent> {
  const res = await fetch(`${baseUrl}/v1/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req), signal });
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: the raw text says it
    }
    throw new Error(`model worker refused the request (HTTP ${res.status}): ${message}`);
  }
  const decoder = new TextDecoder();
  let buf = '';
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(part, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of block.split('\n')) if (line.startsWith('data: ')) yield parseWorkerEvent(line.slice(6));
    }
  }
}

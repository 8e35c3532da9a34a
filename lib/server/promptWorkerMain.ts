// The prompt worker thread (promptWorker.ts): loads the model directory's tokenizer once, then
// prepares prompts one message at a time, refusing those that cannot fit before tokenizing them.
import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer } from '../tokenizer/index.js';
import { ApiError } from './errors.js';
import { preparePrompt } from './prompt.js';
import { boundedTokenizer } from './promptBound.js';
import type { PromptJob, WireError, WorkerData, WorkerReply } from './promptWorker.js';

const tokenizer = loadTokenizer((workerData as WorkerData).dir);

function wire(e: unknown): WireError {
  if (e instanceof ApiError) return { kind: e.kind, message: e.message, param: e.param, ...(e.overflow ? { overflow: e.overflow } : {}) };
  return { message: e instanceof Error ? e.message : String(e) };
}

parentPort!.on('message', (job: PromptJob & { id: number }) => {
  let reply: WorkerReply;
  try {
    const p = preparePrompt(boundedTokenizer(tokenizer, job.contextLength), job.request, job.format);
    reply = { id: job.id, prepared: { ids: Uint32Array.from(p.ids), parser: p.parser } };
  } catch (e) {
    reply = { id: job.id, error: wire(e) };
  }
  parentPort!.postMessage(reply, 'prepared' in reply ? [reply.prepared.ids.buffer as ArrayBuffer] : []);
});

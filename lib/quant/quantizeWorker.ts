// Worker-thread entry: runs QuantizeJobs posted by WorkerPool.
import { parentPort } from 'node:worker_threads';
import { type QuantizeJob, runQuantizeJob } from './quantizeJob.js';

parentPort!.on('message', (msg: { id: number; job: QuantizeJob }) => {
  try {
    const r = runQuantizeJob(msg.job);
    parentPort!.postMessage({ id: msg.id, result: r }, [r.words.buffer, r.scales.buffer, r.biases.buffer] as ArrayBuffer[]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).stack ?? String(e) });
  }
});

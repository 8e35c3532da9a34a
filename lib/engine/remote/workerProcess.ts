// A model worker child process (python/mlx_lm_worker.py): started with the model directory,
// ready once it prints its port and answers /health, stopped by closing its stdin (it also exits
// by itself when mlxk dies), then SIGTERM, then SIGKILL. Every live worker is killed when mlxk exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MlxkError } from '../../io/errors.js';
import type { WorkerHello } from './protocol.js';

/** The worker script shipped with mlxk. */
export const MLX_LM_WORKER = fileURLToPath(new URL('../../../../python/mlx_lm_worker.py', import.meta.url));

export interface WorkerLaunch {
  /** Interpreter (default $MLXK_MLX_LM_PYTHON, else python3): a Python where `import mlx_lm` works. */
  python?: string;
  /** Script it runs (default MLX_LM_WORKER; tests substitute a stand-in speaking the same protocol). */
  script?: string;
  /** More arguments after `--model DIR` (e.g. ["--dtype", "float32"]). */
  args?: string[];
  /** Environment of the child (default: mlxk's). */
  env?: NodeJS.ProcessEnv;
  /** How long a start may take: loading a large model from disk. Default: no limit. */
  startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export class ModelWorker {
  private exited = false;
  private readonly exitListeners: ((why: string) => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly hello: WorkerHello,
    private readonly stderrTail: () => string,
  ) {
    child.once('exit', (code, signal) => {
      this.exited = true;
      live.delete(child);
      const why = signal ? `killed by ${signal}` : `exit code ${code}`;
      for (const l of this.exitListeners) l(`${why}${this.stderrTail() ? `: ${lastLine(this.stderrTail())}` : ''}`);
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Called once if the process ends (also after stop()). */
  onExit(listener: (why: string) => void): void {
    this.exitListeners.push(listener);
  }

  /** Starts a worker for `dir` and waits until it is ready; a worker that cannot start is a one-line error. */
  static async start(dir: string, launch: WorkerLaunch = {}): Promise<ModelWorker> {
    const python = launch.python ?? (process.env.MLXK_MLX_LM_PYTHON || 'python3');
    const argv = [launch.script ?? MLX_LM_WORKER, '--model', dir, ...(launch.args ?? [])];
    const child = spawn(python, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: launch.env ?? process.env });
    live.add(child);
    let tail = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      tail = (tail + s).slice(-4000);
    });
    child.stdin!.on('error', () => {}); // EPIPE when it died first: the exit handler reports it
    const what = `the mlx-lm worker for ${dir} (${python})`;
    const hint = 'install mlx-lm where that Python finds it (pip install mlx-lm), or point MLXK_MLX_LM_PYTHON at such a Python';
    const hello = await new Promise<WorkerHello>((resolve, reject) => {
      let out = '';
      const timer = launch.startTimeoutMs ? setTimeout(() => fail(new MlxkError(`${what} was not ready after ${launch.startTimeoutMs} ms`, hint)), launch.startTimeoutMs) : undefined;
      const fail = (e: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(e);
      };
      child.once('error', (e: NodeJS.ErrnoException) => fail(new MlxkError(e.code === 'ENOENT' ? `${what}: no such program` : `${what} could not start: ${e.message}`, hint)));
      child.once('exit', (code, signal) => fail(new MlxkError(`${what} exited (${signal ?? `code ${code}`}) before it was ready${tail ? `: ${lastLine(tail)}` : ''}`, hint)));
      child.stdout!.setEncoding('utf8').on('data', function onData(s: string) {
        out += s;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // later output is not read
        try {
          const h = JSON.parse(out.slice(0, nl)) as WorkerHello;
          if (!Number.isInteger(h.port) || h.port <= 0) throw new Error('no port');
          clearTimeout(timer);
          child.removeAllListeners('exit');
          child.removeAllListeners('error');
          resolve(h);
        } catch {
          fail(new MlxkError(`${what} printed "${out.slice(0, nl).slice(0, 200)}" instead of its port`, 'is MLXK_MLX_LM_PYTHON a Python running python/mlx_lm_worker.py?'));
        }
      });
    });
    const worker = new ModelWorker(child, `http://127.0.0.1:${hello.port}`, hello, () => tail);
    if (!(await worker.healthy())) {
      await worker.stop();
      throw new MlxkError(`${what} printed its port but does not answer GET /health`, hint);
    }
    return worker;
  }

  /** GET /health answers ok within `ms`. */
  async healthy(ms = 5000): Promise<boolean> {
    if (this.exited) return false;
    try {
      const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(ms) });
      return r.ok && ((await r.json()) as { status?: string }).status === 'ok';
    } catch {
      return false;
    }
  }

  /** Ends the process: stdin closed, then SIGTERM after `graceMs`, then SIGKILL. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const term = setTimeout(() => this.child.kill('SIGTERM'), graceMs);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 2 * graceMs);
    await gone;
    clearTimeout(term);
    clearTimeout(kill);
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]!.trim();
}

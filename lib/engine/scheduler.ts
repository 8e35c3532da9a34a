// Many requests, one compute stream: a bounded queue in front of a set of active tasks that
// take one step each per round (a prefill chunk or one decoded token), so a long prefill never
// holds another request's next token for more than one chunk. A round starts every active
// task's step at once: steps on one model meet in its StepBatcher and run as one batched
// forward pass (continuous batching: a task admitted now joins at the next round, a finished
// one leaves). Between rounds the event loop is free for I/O (streaming, new requests).
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';

export type StepKind = 'start' | 'prefill' | 'decode' | 'end';

export interface StepReport {
  kind: StepKind;
  /** Tokens run through the model in this step. */
  tokens: number;
  /** The task is finished (it will not be stepped again). */
  done: boolean;
}

export interface Task {
  readonly id: string;
  /**
   * Called when the task is at the head of the queue and a slot is free: take what the task needs
   * (e.g. its model in memory). false: not possible now; asked again after an active task ends.
   */
  admit(): Promise<boolean>;
  step(): Promise<StepReport>;
  /** Ends the task at its next turn (or drops it from the queue). */
  cancel(): void;
  readonly cancelled: boolean;
  /** A step, or admit, threw: the task reports the error and releases what it holds. */
  fail(error: unknown): void;
}

export interface SchedulerOptions {
  /** Tasks stepped in turn. */
  maxActive: number;
  /** Tasks waiting for a slot; beyond it submit refuses. */
  maxQueue: number;
}

export interface StepEvent extends StepReport {
  task: string;
}

/**
 * Emits 'step' (StepEvent) after every step and 'failure' ({task, error}) when a task fails. The
 * loop never throws: a task's error goes to that task, a listener's error is dropped.
 */
export class Scheduler extends EventEmitter {
  private readonly active: Task[] = [];
  private readonly waiting: Task[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly opts: SchedulerOptions) {
    super();
    if (!Number.isInteger(opts.maxActive) || opts.maxActive < 1) throw new Error(`maxActive must be a positive integer, got ${opts.maxActive}`);
    if (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0) throw new Error(`maxQueue must be a non-negative integer, got ${opts.maxQueue}`);
  }

  get activeCount(): number {
    return this.active.length;
  }

  get queuedCount(): number {
    return this.waiting.length;
  }

  /**
   * Queues a task; false when the queue is full (the caller answers "busy"). A task that can
   * start at once still passes through the queue, so arrival order is kept.
   */
  submit(task: Task): boolean {
    const free = this.opts.maxActive - this.active.length;
    if (this.waiting.length >= this.opts.maxQueue + Math.max(0, free)) return false;
    this.waiting.push(task);
    if (!this.running) void this.loop();
    return true;
  }

  /** Resolves when no task is active or queued. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.active.length > 0 || this.waiting.length > 0) {
        await this.admit();
        const round = [...this.active];
        const reports = await Promise.all(
          round.map((task) =>
            Promise.resolve().then(() => task.step()).catch((error: unknown): StepReport => {
              this.failTask(task, error);
              return { kind: 'end', tokens: 0, done: true };
            }),
          ),
        );
        round.forEach((task, i) => {
          const report = reports[i]!;
          if (report.done) this.active.splice(this.active.indexOf(task), 1);
          this.tell('step', { task: task.id, ...report } satisfies StepEvent);
        });
        // Let sockets flush and new requests arrive between rounds, even when no step awaited.
        await nextTurn();
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Moves tasks from the head of the queue into free slots, in order. */
  private async admit(): Promise<void> {
    while (this.waiting.length > 0 && this.active.length < this.opts.maxActive) {
      const head = this.waiting[0]!;
      if (head.cancelled) {
        this.waiting.shift();
        continue;
      }
      let ok: boolean;
      try {
        ok = await head.admit();
      } catch (error) {
        this.waiting.shift();
        this.failTask(head, error);
        continue;
      }
      if (!ok) {
        if (this.active.length > 0) return;
        // Nothing active holds anything, so waiting cannot help.
        this.waiting.shift();
        this.failTask(head, new Error(`task ${head.id} cannot start even with nothing else running`));
        continue;
      }
      this.waiting.shift();
      this.active.push(head);
    }
  }

  private failTask(task: Task, error: unknown): void {
    this.tell('failure', { task: task.id, error });
    try {
      task.fail(error);
    } catch (second) {
      this.tell('failure', { task: task.id, error: second });
    }
  }

  private tell(event: string, payload: unknown): void {
    try {
      this.emit(event, payload);
    } catch {
      // a listener's bug must not stop the requests of everyone else
    }
  }
}

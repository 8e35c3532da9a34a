// The scheduler with hand-written tasks whose steps are recorded: round-robin order, the queue
// limit, admission in arrival order (a task that cannot start holds the ones behind it), and a
// task that throws ends alone while the others finish.
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Scheduler, type StepEvent, type StepReport, type Task } from '../../lib/engine/scheduler.js';

class Counter implements Task {
  cancelled = false;
  done = 0;
  failure: unknown = null;
  admitted = false;

  constructor(
    readonly id: string,
    private readonly steps: number,
    private readonly log: string[],
    private readonly opts: { throwAt?: number; canStart?: () => boolean; stepMs?: number } = {},
  ) {}

  async admit(): Promise<boolean> {
    this.admitted = this.opts.canStart?.() ?? true;
    return this.admitted;
  }

  async step(): Promise<StepReport> {
    if (this.cancelled) return { kind: 'end', tokens: 0, done: true };
    if (this.opts.stepMs) await sleep(this.opts.stepMs);
    if (this.done === this.opts.throwAt) throw new Error(`${this.id} broke`);
    this.log.push(`${this.id}${this.done}`);
    this.done++;
    return { kind: 'decode', tokens: 1, done: this.done === this.steps };
  }

  cancel(): void {
    this.cancelled = true;
  }

  fail(error: unknown): void {
    this.failure = error;
  }
}

test('active tasks take one step each per round; later arrivals join the rotation', async () => {
  const log: string[] = [];
  const s = new Scheduler({ maxActive: 3, maxQueue: 0 });
  const events: StepEvent[] = [];
  s.on('step', (e: StepEvent) => events.push(e));
  assert.ok(s.submit(new Counter('a', 3, log)));
  assert.ok(s.submit(new Counter('b', 2, log)));
  await s.idle();
  assert.equal(log, ['a0', 'b0', 'a1', 'b1', 'a2']);
  assert.equal(events.map((e) => `${e.task}${e.done ? '!' : ''}`), ['a', 'b', 'a', 'b!', 'a!']);
});

test('queue limit: maxActive running plus maxQueue waiting, then submit refuses', async () => {
  const log: string[] = [];
  const s = new Scheduler({ maxActive: 2, maxQueue: 1 });
  const tasks = ['a', 'b', 'c', 'd'].map((id) => new Counter(id, 2, log, { stepMs: 5 }));
  assert.equal(tasks.map((t) => s.submit(t)), [true, true, true, false]);
  await s.idle();
  assert.equal(log, ['a0', 'b0', 'a1', 'b1', 'c0', 'c1']);
  assert.ok(s.submit(new Counter('e', 1, log)), 'room again once they finished');
  await s.idle();
});

test('a task that cannot start yet waits at the head; the ones behind it wait too', async () => {
  const log: string[] = [];
  const s = new Scheduler({ maxActive: 3, maxQueue: 5 });
  let aRunning = true;
  const a = new Counter('a', 3, log);
  const b = new Counter('b', 1, log, { canStart: () => !aRunning });
  const c = new Counter('c', 1, log);
  s.on('step', (e: StepEvent) => {
    if (e.task === 'a' && e.done) aRunning = false;
  });
  s.submit(a);
  s.submit(b);
  s.submit(c);
  await s.idle();
  assert.equal(log, ['a0', 'a1', 'a2', 'b0', 'c0'], 'b started after a released, c after b (arrival order)');
});

test('a throwing step fails only its task; cancelled tasks stop at their next turn', async () => {
  const log: string[] = [];
  const s = new Scheduler({ maxActive: 3, maxQueue: 0 });
  const failures: string[] = [];
  s.on('failure', (f: { task: string }) => failures.push(f.task));
  s.on('step', () => {
    throw new Error('a listener bug does not stop the loop');
  });
  const a = new Counter('a', 4, log, { throwAt: 1 });
  const b = new Counter('b', 4, log);
  const c = new Counter('c', 100, log);
  s.submit(a);
  s.submit(b);
  s.submit(c);
  c.cancel();
  await s.idle();
  assert.equal(failures, ['a']);
  assert.match(String(a.failure), /a broke/);
  assert.equal(log, ['a0', 'b0', 'b1', 'b2', 'b3']);
  assert.is(c.done, 0);
});

test('a task that cannot start with nothing else running fails instead of waiting forever', async () => {
  const s = new Scheduler({ maxActive: 1, maxQueue: 1 });
  const never = new Counter('x', 1, [], { canStart: () => false });
  s.submit(never);
  await s.idle();
  assert.match(String(never.failure), /cannot start/);
});

test.run();

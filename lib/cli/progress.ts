// A one-line progress bar on stderr for long jobs (only when stderr is a TTY;
// otherwise a plain line every 10% so logs stay readable).

export interface ProgressState {
  done: number;
  total: number;
  /** Extra text after the bar, e.g. "12/201 tensors · 34 MB/s". */
  detail?: string;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly stream: NodeJS.WriteStream = process.stderr, private readonly enabled = true) {
    this.tty = Boolean(stream.isTTY);
  }

  update(state: ProgressState, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    const frac = state.total > 0 ? Math.min(1, state.done / state.total) : 0;
    const elapsed = (now - this.started) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : NaN;
    const line = `${this.label} ${this.bar(frac)} ${(frac * 100).toFixed(0).padStart(3)}%  ${state.detail ?? ''}  elapsed ${clock(elapsed)}  ETA ${clock(eta)}`;
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r${line.slice(0, width - 1).padEnd(Math.min(width - 1, line.length))}\x1b[K`);
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile > this.lastDecile || force) {
      this.lastDecile = decile;
      this.stream.write(`${line}\n`);
    }
  }

  done(message?: string): void {
    if (!this.enabled) return;
    if (this.tty) this.stream.write('\r\x1b[K');
    if (message) this.stream.write(`${message}\n`);
  }

  private bar(frac: number): string {
    const width = 24;
    const full = Math.round(frac * width);
    return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
  }
}

// Stop strings over streamed text. Text arrives in pieces that need not line up with a
// stop string (one may span several tokens), so the tail that could still grow into a
// stop string is held back until it either completes one — the text before it is the
// last output — or can no longer match.

export interface StopResult {
  /** Text safe to emit now. */
  text: string;
  /** The stop string that ended generation, or null. */
  stopped: string | null;
}

export class StopStrings {
  private pending = '';
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  push(piece: string): StopResult {
    if (this.stops.length === 0) return { text: piece, stopped: null };
    this.pending += piece;
    let first = -1;
    let which: string | null = null;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (first < 0 || at < first)) {
        first = at;
        which = s;
      }
    }
    if (which !== null) {
      const text = this.pending.slice(0, first);
      this.pending = '';
      return { text, stopped: which };
    }
    const hold = this.heldLength();
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stopped: null };
  }

  /** Text still held back, released at the end of generation. */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }

  /** Length of the longest suffix of the pending text that is a proper prefix of a stop string. */
  private heldLength(): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > best; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}

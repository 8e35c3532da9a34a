// Finds the first of several marker strings in text that arrives in pieces. A marker may be split
// over any number of pieces, so the tail of the text that could still grow into a marker is held
// back. The decision never depends on how the text was cut: a marker is taken at the leftmost
// position where one can start (the shortest one when several start there), exactly as a scan of
// the whole text would take it.

export interface ScanResult {
  /** Text that is certainly not part of a marker (everything before the marker or the held tail). */
  text: string;
  /** The marker found, if any. */
  marker?: string;
  /** Unconsumed text: what follows the marker, or the held-back tail that may still become one. */
  rest: string;
}

/**
 * Scans `buffer` for `markers`. With `final` (no more text will come) nothing is held back.
 * Callers loop: feed `rest` plus the next piece back in.
 */
export function scanMarkers(buffer: string, markers: readonly string[], final = false): ScanResult {
  if (markers.length === 0) return { text: buffer, rest: '' };
  const firstChars = new Set(markers.map((m) => m[0]));
  for (let s = 0; s < buffer.length; s++) {
    if (!firstChars.has(buffer[s])) continue;
    let found: string | undefined;
    let live = false;
    const tailLength = buffer.length - s;
    for (const m of markers) {
      if (buffer.startsWith(m, s)) {
        if (found === undefined || m.length < found.length) found = m;
      } else if (!final && tailLength < m.length && m.startsWith(buffer.slice(s))) {
        live = true;
      }
    }
    if (found !== undefined) return { text: buffer.slice(0, s), marker: found, rest: buffer.slice(s + found.length) };
    if (live) return { text: buffer.slice(0, s), rest: buffer.slice(s) };
  }
  return { text: buffer, rest: '' };
}

/**
 * Scans `buffer` to its end: text goes to `onText`, each marker to `onMarker` (which may change the
 * markers the next scan looks for). Returns the held-back tail to prepend to the next piece.
 */
export function drainMarkers(buffer: string, final: boolean, markers: () => readonly string[], onText: (text: string) => void, onMarker: (marker: string) => void): string {
  let rest = buffer;
  for (;;) {
    const r = scanMarkers(rest, markers(), final);
    onText(r.text);
    rest = r.rest;
    if (r.marker === undefined) return rest;
    onMarker(r.marker);
  }
}

/**
 * Holds back trailing whitespace of a stream of text, so a caller can drop it when what follows
 * turns out to be a boundary (a closing marker) and keep it when more text follows.
 */
export class TrailingSpace {
  private held = '';

  /** Text that is safe to emit now. */
  push(text: string): string {
    if (text.length === 0) return '';
    const all = this.held + text;
    const cut = all.trimEnd().length;
    this.held = all.slice(cut);
    return all.slice(0, cut);
  }

  /** The held whitespace, given up (the boundary came). */
  drop(): void {
    this.held = '';
  }

  /** The held whitespace, released (more text came after all). */
  release(): string {
    const h = this.held;
    this.held = '';
    return h;
  }
}

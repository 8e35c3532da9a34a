// Stop sequences (OpenAI `stop`, Anthropic `stop_sequences`) found in generated text. Text that
// might be the start of a stop sequence is held back until it is known either way; a stop
// sequence itself is never emitted, and nothing after it is.
import { scanMarkers } from './markerScanner.js';

export class StopMatcher {
  private pending = '';
  private matched: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  /** The stop sequence that ended the text, once one has. */
  get stopSequence(): string | undefined {
    return this.matched;
  }

  /** Text safe to pass on. After a match it returns '' for ever. */
  feed(text: string): string {
    if (this.matched !== undefined) return '';
    const r = scanMarkers(this.pending + text, this.stops);
    if (r.marker !== undefined) {
      this.matched = r.marker;
      this.pending = '';
      return r.text;
    }
    this.pending = r.rest;
    return r.text;
  }

  /** End of generation: the held-back text was not a stop sequence after all. */
  finish(): string {
    const rest = this.matched === undefined ? this.pending : '';
    this.pending = '';
    return rest;
  }
}

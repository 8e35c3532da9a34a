// Splits generated text into reasoning and answer at <think> … </think>. The split starts inside
// the reasoning when the prompt already opened it (Kimi-K2.5 and Qwen3 templates pre-fill
// "<think>"). Reasoning also ends, without a </think>, where a tool-call section starts: K2.5 may
// call a tool straight from its reasoning (vLLM kimi_k25_reasoning_parser ends reasoning at
// <|tool_calls_section_begin|> / <|tool_call_begin|>); that marker is passed on as answer text for
// the tool parser. Whitespace around the reasoning and at the start of the answer is dropped.
import { scanMarkers, TrailingSpace } from './markerScanner.js';

export interface ReasoningMarkers {
  start: string;
  end: string;
  /** Markers that end reasoning implicitly and belong to the answer (tool-call openers). */
  implicitEnds: readonly string[];
}

export const THINK_TAGS: ReasoningMarkers = { start: '<think>', end: '</think>', implicitEnds: [] };

export interface SplitPiece {
  channel: 'reasoning' | 'content';
  text: string;
}

export class ReasoningSplitter {
  private inReasoning: boolean;
  private pending = '';
  /** Nothing but whitespace has been seen in the current channel yet. */
  private atChannelStart = true;
  /** No reasoning block has been opened and no answer text written: a <think> may still open one. */
  private mayOpen: boolean;
  private readonly reasoningTail = new TrailingSpace();

  constructor(private readonly markers: ReasoningMarkers, startInReasoning: boolean) {
    this.inReasoning = startInReasoning;
    this.mayOpen = !startInReasoning;
  }

  get reasoning(): boolean {
    return this.inReasoning;
  }

  feed(text: string): SplitPiece[] {
    return this.run(this.pending + text, false);
  }

  finish(): SplitPiece[] {
    const out = this.run(this.pending, true);
    this.reasoningTail.drop();
    return out;
  }

  private run(buffer: string, final: boolean): SplitPiece[] {
    const out: SplitPiece[] = [];
    let rest = buffer;
    for (;;) {
      const r = scanMarkers(rest, this.activeMarkers(), final);
      rest = r.rest;
      if (r.marker === this.markers.start && r.text.trim().length > 0) {
        // An opener only counts before any other text of its channel.
        this.emit(r.text + r.marker, out);
        continue;
      }
      this.emit(r.text, out);
      if (r.marker === undefined) break;
      this.onMarker(r.marker, out);
    }
    this.pending = rest;
    return out;
  }

  private activeMarkers(): readonly string[] {
    const m = this.markers;
    if (!this.inReasoning) return this.mayOpen ? [m.start] : [];
    // A leading <think> inside a pre-opened block is the model repeating the opener: consumed.
    return this.atChannelStart ? [m.end, m.start, ...m.implicitEnds] : [m.end, ...m.implicitEnds];
  }

  private onMarker(marker: string, out: SplitPiece[]): void {
    if (marker === this.markers.start) {
      this.inReasoning = true;
      this.mayOpen = false;
      return;
    }
    this.inReasoning = false;
    this.atChannelStart = true;
    this.reasoningTail.drop();
    if (marker !== this.markers.end) this.emit(marker, out);
  }

  private emit(text: string, out: SplitPiece[]): void {
    if (text.length === 0) return;
    if (this.atChannelStart) {
      text = text.trimStart();
      if (text.length === 0) return;
      this.atChannelStart = false;
    }
    if (this.inReasoning) {
      const safe = this.reasoningTail.push(text);
      if (safe.length > 0) push(out, 'reasoning', safe);
    } else {
      this.mayOpen = false;
      push(out, 'content', text);
    }
  }
}

function push(out: SplitPiece[], channel: SplitPiece['channel'], text: string): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.channel === channel) last.text += text;
  else out.push({ channel, text });
}

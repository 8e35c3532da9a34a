// Feeding a parser the same text cut in different places must give the same events. These helpers
// cut text at every boundary (one cut, every pair of cuts, every character) and at random, and
// normalize events so that only the text each event carries, not how it was cut, is compared.
import { OutputParser, type OutputParserOptions } from '../../lib/protocol/outputParser.js';
import type { ParsedEvent, ParseIssue } from '../../lib/protocol/types.js';
import { rng } from '../helpers.js';

export interface Parsed {
  events: ParsedEvent[];
  issues: readonly ParseIssue[];
  stop: string | undefined;
}

/** Joins adjacent pieces of the same kind: events as a single whole-text parse would give them. */
export function normalize(events: readonly ParsedEvent[]): ParsedEvent[] {
  const out: ParsedEvent[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (last && (e.type === 'text' || e.type === 'reasoning') && last.type === e.type) last.text += e.text;
    else if (last && e.type === 'tool_call_delta' && last.type === 'tool_call_delta' && last.index === e.index) last.arguments += e.arguments;
    else out.push({ ...e });
  }
  return out;
}

export function parseChunks(chunks: readonly string[], opts: OutputParserOptions): Parsed {
  let n = 0;
  const p = new OutputParser({ newCallId: () => `call_${n++}`, ...opts });
  const events = [...p.start()];
  for (const c of chunks) {
    if (p.shouldStop) break;
    events.push(...p.feed(c));
  }
  events.push(...p.finish());
  for (const e of events) {
    if ((e.type === 'text' || e.type === 'reasoning') && e.text.length === 0) throw new Error(`empty ${e.type} event`);
  }
  return { events: normalize(events), issues: p.issues, stop: p.stopSequence };
}

/** Every way of cutting `text` once, twice (when short enough), into characters, and at random. */
export function* cuttings(text: string, seed: number): Generator<string[]> {
  const n = text.length;
  yield [text];
  yield [...text];
  for (let i = 1; i < n; i++) yield [text.slice(0, i), text.slice(i)];
  if (n <= 160) {
    for (let i = 1; i < n; i++) for (let j = i + 1; j < n; j++) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
  }
  const next = rng(seed);
  for (let k = 0; k < 200; k++) {
    const parts: string[] = [];
    let at = 0;
    while (at < n) {
      const len = 1 + Math.floor(next() * 7);
      parts.push(text.slice(at, at + len));
      at += len;
    }
    yield parts;
  }
}

/** Parses `text` under every cutting; throws on the first that differs from the whole-text parse. */
export function sameUnderEveryCut(text: string, opts: OutputParserOptions, seed: number): Parsed {
  const whole = parseChunks([text], opts);
  const want = JSON.stringify(whole);
  let count = 0;
  for (const chunks of cuttings(text, seed)) {
    const got = JSON.stringify(parseChunks(chunks, opts));
    count++;
    if (got !== want) throw new Error(`cut ${JSON.stringify(chunks)} (seed ${seed}) gave\n${got}\nbut the whole text gave\n${want}`);
  }
  if (count < text.length) throw new Error('too few cuttings');
  return whole;
}

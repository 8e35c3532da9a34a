// Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html).
// JSON never contains a raw newline, so each payload is one data line.

/** OpenAI style: data only. */
export function dataFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export const DONE_FRAME = 'data: [DONE]\n\n';

/** Anthropic style: the event name, then the data (whose `type` repeats it). */
export function eventFrame(payload: { type: string }): string {
  return `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** A comment line: keeps proxies and clients from timing out during a long prefill. */
export function keepAliveFrame(note = 'keep-alive'): string {
  return `: ${note.replace(/[\r\n]/g, ' ')}\n\n`;
}

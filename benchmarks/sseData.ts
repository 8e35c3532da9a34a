// The `data:` payloads of a server-sent-event stream, frame by frame, read by hand (the
// benchmarks time the first token as it arrives; no client library between).
export async function* sseData(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (frame.startsWith('data: ')) yield frame.slice(6);
    }
  }
}

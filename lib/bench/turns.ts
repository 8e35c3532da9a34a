// Lets the event loop run (signal handlers such as Ctrl-C, timers) during long loops of
// synchronous compute: a backend whose steps resolve at once (native) never gives
// libuv a turn otherwise. Yields at most every `everyMs`, so timing loops stay clean.

export function eventLoopTurns(everyMs = 50): () => Promise<void> {
  let last = performance.now();
  return async () => {
    const now = performance.now();
    if (now - last < everyMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    last = performance.now();
  };
}

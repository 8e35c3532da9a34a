// decode() for any TokenCodec: concatenate the tokens' bytes, then one UTF-8 decode with
// U+FFFD for invalid sequences (Python's errors="replace" and HF's from_utf8_lossy do the same).

export function decodeIds(
  ids: readonly number[],
  tokenBytes: (id: number) => Uint8Array,
  specialIds: ReadonlySet<number>,
  skipSpecial: boolean,
): string {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const id of ids) {
    if (skipSpecial && specialIds.has(id)) continue;
    const b = tokenBytes(id);
    parts.push(b);
    n += b.length;
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const b of parts) {
    all.set(b, at);
    at += b.length;
  }
  return new TextDecoder().decode(all);
}

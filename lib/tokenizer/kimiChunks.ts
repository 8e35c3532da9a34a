// How tokenization_kimi.py (and Llama-3's tiktoken wrapper) cut long inputs before tiktoken:
// pieces of at most 400,000 characters, then no run of more than 25,000 consecutive
// whitespace or non-whitespace characters (tiktoken issue #195). Characters are code points
// and "whitespace" is Python's str.isspace(), so the ids match the Python tokenizer exactly.

const MAX_ENCODE_CHARS = 400_000;
const MAX_RUN_CHARS = 25_000;

/** Python str.isspace(): bidi classes WS/B/S or category Zs. */
function isPythonSpace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp === 0x85 || cp === 0xa0 || cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

/** Splits one ≤400k-character piece into runs-limited substrings (_split_whitespaces_or_nonwhitespaces). */
function splitRuns(s: string, out: string[]): void {
  let runLen = 0;
  let runIsSpace = s.length > 0 && isPythonSpace(s.codePointAt(0)!);
  let sliceStart = 0;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    const isSpace = isPythonSpace(cp);
    if (runIsSpace !== isSpace) {
      runLen = 1;
      runIsSpace = isSpace;
    } else if (++runLen > MAX_RUN_CHARS) {
      out.push(s.slice(sliceStart, i));
      sliceStart = i;
      runLen = 1;
    }
    i += cp > 0xffff ? 2 : 1;
  }
  out.push(s.slice(sliceStart));
}

/** The substrings tokenization_kimi.py encodes one by one, in order. */
export function kimiChunks(text: string): string[] {
  // Fewer UTF-16 units than the run limit means fewer code points too: nothing to cut.
  if (text.length <= MAX_RUN_CHARS) return [text];
  const out: string[] = [];
  let start = 0;
  let count = 0;
  for (let i = 0; i < text.length; ) {
    i += text.codePointAt(i)! > 0xffff ? 2 : 1;
    if (++count === MAX_ENCODE_CHARS) {
      splitRuns(text.slice(start, i), out);
      start = i;
      count = 0;
    }
  }
  if (start < text.length) splitRuns(text.slice(start), out);
  return out;
}

// GPT-2's reversible byte ↔ printable-character map (openai/gpt-2 encoder.py
// `bytes_to_unicode`), used by byte-level BPE vocabularies and by Kimi's
// tokenization_kimi.py for its token strings.

function buildByteToChar(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : next++);
  return out;
}

/** BYTE_TO_CHAR[b] is the character that stands for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

const CHAR_TO_BYTE = new Map<number, number>(BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b]));

const utf8 = new TextEncoder();

/** The byte-level string of a piece of text (each UTF-8 byte → its stand-in character). */
export function textToByteChars(text: string): string {
  return bytesToByteChars(utf8.encode(text));
}

export function bytesToByteChars(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/**
 * The bytes a byte-level token string stands for, or undefined when some character is
 * not a byte stand-in (HF tokenizers' ByteLevel decoder then uses the token's own UTF-8).
 */
export function byteCharsToBytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const b = CHAR_TO_BYTE.get(s.charCodeAt(i));
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}

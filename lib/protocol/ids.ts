// Random ids in the shapes the APIs use ("call_…", "chatcmpl-…", "msg_…"): letters and digits.
import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomId(prefix: string, length = 24): string {
  return prefix + [...randomBytes(length)].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

/** A tool-call id for formats where the model writes none: "call_" + 24 letters and digits, as OpenAI's look. */
export function randomCallId(): string {
  return randomId('call_');
}

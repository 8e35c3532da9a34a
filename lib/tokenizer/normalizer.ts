// tokenizer.json "normalizer" (HF tokenizers normalizers/): the kinds byte-level BPE
// tokenizers use. Qwen2/Qwen3 use NFC; Llama-3 and DeepSeek-V3 have none or an empty Sequence.
import { MlxkError } from '../io/errors.js';
import { patternRegex } from './regexTranslate.js';
import { field, isArray, isBool, isString, type Spec } from './spec.js';

export type Normalize = (text: string) => string;

export function buildNormalizer(spec: unknown, where: string): Normalize | null {
  if (spec === null || spec === undefined) return null;
  if (typeof spec !== 'object' || Array.isArray(spec)) throw new MlxkError(`${where} must be an object or null`);
  const s = spec as Spec;
  switch (s.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = s.type;
      return (t) => t.normalize(form);
    }
    case 'Lowercase':
      return (t) => t.toLowerCase();
    case 'Strip': {
      const left = field(s, 'strip_left', where, isBool, 'a boolean');
      const right = field(s, 'strip_right', where, isBool, 'a boolean');
      return (t) => (left && right ? t.trim() : left ? t.trimStart() : right ? t.trimEnd() : t);
    }
    case 'Replace': {
      const re = patternRegex(s.pattern, `${where}.pattern`);
      const content = field(s, 'content', where, isString, 'a string');
      return (t) => t.replace(re, () => content);
    }
    case 'Sequence': {
      const parts = field(s, 'normalizers', where, isArray, 'an array')
        .map((n, i) => buildNormalizer(n, `${where}.normalizers[${i}]`))
        .filter((n): n is Normalize => n !== null);
      if (parts.length === 0) return null;
      return (t) => parts.reduce((acc, n) => n(acc), t);
    }
    default:
      throw new MlxkError(`${where}: normalizer type ${JSON.stringify(s.type)} is not supported (byte-level BPE tokenizers use NFC/NFKC/Sequence or none)`);
  }
}

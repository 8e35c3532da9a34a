// tokenizer.json "pre_tokenizer" (HF tokenizers pre_tokenizers/): Split, ByteLevel, Digits and
// Sequence, which is what Llama-3, Qwen2/Qwen3 and DeepSeek-V3 use. Each step maps every current
// piece to sub-pieces; empty pieces are dropped, as PreTokenizedString::split does.
import { MlxkError } from '../io/errors.js';
import { textToByteChars } from './byteLevel.js';
import { patternRegex, translateRegex } from './regexTranslate.js';
import { field, isArray, isBool, isObject, optionalField, type Spec } from './spec.js';

export type PreTokenize = (pieces: string[]) => string[];

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS = new Set<string>(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']);

/** GPT-2's split pattern, which ByteLevel applies itself when use_regex is true. */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

interface Segment {
  start: number;
  end: number;
  match: boolean;
}

/** Match and non-match segments covering `text` (zero-length matches ignored). */
function segments(text: string, re: RegExp): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index > at) out.push({ start: at, end: m.index, match: false });
    out.push({ start: m.index, end: m.index + m[0].length, match: true });
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push({ start: at, end: text.length, match: false });
  return out;
}

/** Joins segments the way tokenizers' SplitDelimiterBehavior says. */
function applyBehavior(segs: Segment[], behavior: Behavior): Segment[] {
  switch (behavior) {
    case 'Isolated':
      return segs;
    case 'Removed':
      return segs.filter((s) => !s.match);
    case 'Contiguous': {
      const out: Segment[] = [];
      for (const s of segs) {
        const last = out[out.length - 1];
        if (last && last.match === s.match) last.end = s.end;
        else out.push({ ...s });
      }
      return out;
    }
    case 'MergedWithPrevious': {
      const out: Segment[] = [];
      let prevMatch = false;
      for (const s of segs) {
        const last = out[out.length - 1];
        if (s.match && !prevMatch && last) last.end = s.end;
        else out.push({ ...s });
        prevMatch = s.match;
      }
      return out;
    }
    case 'MergedWithNext': {
      const out: Segment[] = [];
      let nextMatch = false;
      for (let i = segs.length - 1; i >= 0; i--) {
        const s = segs[i]!;
        const last = out[out.length - 1];
        if (s.match && !nextMatch && last) last.start = s.start;
        else out.push({ ...s });
        nextMatch = s.match;
      }
      return out.reverse();
    }
  }
}

function splitter(re: RegExp, behavior: Behavior, invert: boolean): PreTokenize {
  return (pieces) => {
    const out: string[] = [];
    for (const piece of pieces) {
      let segs = segments(piece, re);
      if (invert) segs = segs.map((s) => ({ ...s, match: !s.match }));
      for (const s of applyBehavior(segs, behavior)) if (s.end > s.start) out.push(piece.slice(s.start, s.end));
    }
    return out;
  };
}

function byteLevel(s: Spec, where: string): PreTokenize {
  const addPrefixSpace = optionalField(s, 'add_prefix_space', where, isBool, 'a boolean', true);
  const useRegex = optionalField(s, 'use_regex', where, isBool, 'a boolean', true);
  const split = useRegex ? splitter(translateRegex(GPT2_PATTERN, where), 'Isolated', false) : (p: string[]) => p;
  return (pieces) => {
    const spaced = addPrefixSpace ? pieces.map((p) => (p.startsWith(' ') ? p : ' ' + p)) : pieces;
    return split(spaced).map(textToByteChars);
  };
}

export interface PreTokenizerInfo {
  run: PreTokenize;
  /** True when a ByteLevel step maps pieces to byte characters (required for byte-level BPE). */
  byteLevel: boolean;
}

export function buildPreTokenizer(spec: unknown, where: string): PreTokenizerInfo {
  if (spec === null || spec === undefined) return { run: (p) => p, byteLevel: false };
  if (!isObject(spec)) throw new MlxkError(`${where} must be an object or null`);
  switch (spec.type) {
    case 'ByteLevel':
      return { run: byteLevel(spec, where), byteLevel: true };
    case 'Split': {
      const behavior = field(spec, 'behavior', where, (v): v is Behavior => typeof v === 'string' && BEHAVIORS.has(v), `one of ${[...BEHAVIORS].join(', ')}`);
      const invert = optionalField(spec, 'invert', where, isBool, 'a boolean', false);
      return { run: splitter(patternRegex(spec.pattern, `${where}.pattern`), behavior, invert), byteLevel: false };
    }
    case 'Digits': {
      const individual = optionalField(spec, 'individual_digits', where, isBool, 'a boolean', false);
      // Rust char::is_numeric: any Number category.
      return { run: splitter(/\p{N}/gu, individual ? 'Isolated' : 'Contiguous', false), byteLevel: false };
    }
    case 'Sequence': {
      const steps = field(spec, 'pretokenizers', where, isArray, 'an array').map((p, i) => buildPreTokenizer(p, `${where}.pretokenizers[${i}]`));
      return {
        run: (pieces) => steps.reduce((acc, step) => step.run(acc), pieces),
        byteLevel: steps.some((s) => s.byteLevel),
      };
    }
    default:
      throw new MlxkError(`${where}: pre_tokenizer type ${JSON.stringify(spec.type)} is not supported (byte-level BPE needs ByteLevel, optionally after Split/Digits)`);
  }
}

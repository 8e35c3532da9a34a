// Translates the regex dialects tokenizers are written in (Oniguruma for HF tokenizers'
// Split pre-tokenizer, Rust `regex`/fancy-regex for tiktoken pat_str) into an equivalent
// JavaScript RegExp with the `u` flag:
// - \s \d \w and `.` get their Unicode meaning (JS's are ASCII or differ: JS \s has U+FEFF, lacks U+0085);
// - \p{Han} → \p{Script=Han} (a bare script name is an error in JS);
// - (?i:…) groups are expanded into case-variant classes (JS has no inline modifiers before Node 23);
// - possessive quantifiers and atomic groups become (?=(?<x>…))\k<x>;
// - class intersection [A&&B] and nested classes become lookahead forms matching one code point;
// - ^ and $ are line anchors as in Oniguruma's Ruby syntax.
import { backtrackingRisk } from '../io/regexGuard.js';
import { MlxkError } from '../io/errors.js';
import { caseVariants, literalInClass, literalOutside, propertyName, WORD } from './regexSyntax.js';

/** One code point matcher, possibly also usable as a flat body inside a JS class. */
interface ClassPart {
  matcher: string;
  flat?: string;
}

class Translator {
  private i = 0;
  private atomic = 0;

  constructor(private readonly src: string, private readonly where: string) {}

  translate(): string {
    const body = this.alternation(false);
    if (this.i < this.src.length) this.fail(`unbalanced ')' at offset ${this.i}`);
    return body;
  }

  private fail(detail: string): never {
    throw new MlxkError(`${this.where}: cannot translate regex ${JSON.stringify(this.src)}: ${detail}`);
  }

  private peek(k = 0): string {
    return this.src.charAt(this.i + k);
  }

  private readCodePoint(): number {
    const cp = this.src.codePointAt(this.i);
    if (cp === undefined) this.fail('unexpected end of pattern');
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** Alternatives up to a closing ')' (not consumed) or the end. */
  private alternation(caseInsensitive: boolean): string {
    let ci = caseInsensitive;
    const branches: string[] = [];
    let terms: string[] = [];
    while (this.i < this.src.length && this.peek() !== ')') {
      if (this.peek() === '|') {
        this.i++;
        branches.push(terms.join(''));
        terms = [];
        continue;
      }
      if (this.src.startsWith('(?i)', this.i)) {
        this.i += 4;
        ci = true;
        continue;
      }
      if (this.src.startsWith('(?-i)', this.i)) {
        this.i += 5;
        ci = false;
        continue;
      }
      terms.push(this.quantified(this.atom(ci)));
    }
    branches.push(terms.join(''));
    return branches.join('|');
  }

  private quantified(atom: string): string {
    let quant = '';
    const c = this.peek();
    if (c === '*' || c === '+' || c === '?') {
      quant = c;
      this.i++;
    } else if (c === '{') {
      const m = /^\{(\d*)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m || (m[1] === '' && m[2] === undefined)) return atom;
      quant = `{${m[1] === '' ? '0' : m[1]}${m[2] ?? ''}}`;
      this.i += m[0].length;
    } else {
      return atom;
    }
    if (this.peek() === '?') {
      this.i++;
      return atom + quant + '?';
    }
    if (this.peek() === '+') {
      this.i++;
      return this.atomicWrap(atom + quant);
    }
    return atom + quant;
  }

  private atomicWrap(body: string): string {
    const name = `atomic${this.atomic++}`;
    return `(?=(?<${name}>${body}))\\k<${name}>`;
  }

  private atom(ci: boolean): string {
    const c = this.peek();
    switch (c) {
      case '(':
        return this.group(ci);
      case '[':
        return this.charClass(ci).matcher;
      case '\\':
        return this.escapeOutside(ci);
      case '.':
        this.i++;
        return '[^\\n]';
      case '^':
        this.i++;
        return '(?<![^\\n])';
      case '$':
        this.i++;
        return '(?![^\\n])';
      case '*':
      case '+':
      case '?':
        return this.fail(`quantifier '${c}' with nothing to repeat at offset ${this.i}`);
      default:
        return this.literal(this.readCodePoint(), ci);
    }
  }

  private literal(cp: number, ci: boolean): string {
    if (!ci) return literalOutside(cp);
    const vs = caseVariants(cp);
    return vs.length === 1 ? literalOutside(cp) : `[${vs.map(literalInClass).join('')}]`;
  }

  private group(ci: boolean): string {
    const rest = this.src.slice(this.i);
    const open = /^\((\?(?::|=|!|<=|<!|>|P?<[A-Za-z_]\w*>|i:|-i:))?/.exec(rest)!;
    if (rest.startsWith('(?') && open[1] === undefined) this.fail(`unsupported group syntax at offset ${this.i}: ${rest.slice(0, 6)}`);
    this.i += open[0].length;
    const kind = open[1] ?? '';
    const inner = this.alternation(kind === '?i:' ? true : kind === '?-i:' ? false : ci);
    if (this.peek() !== ')') this.fail('missing )');
    this.i++;
    if (kind === '?>') return this.atomicWrap(`(?:${inner})`);
    if (kind === '?i:' || kind === '?-i:') return `(?:${inner})`;
    if (kind.startsWith('?P<')) return `(?<${kind.slice(3)}${inner})`;
    return `(${kind}${inner})`;
  }

  private escapeOutside(ci: boolean): string {
    const c = this.peek(1);
    switch (c) {
      case 'A':
        this.i += 2;
        return '^';
      case 'z':
        this.i += 2;
        return '$';
      case 'Z':
        this.i += 2;
        return '(?=\\n?$)';
      case 'b':
      case 'B':
      case 'G':
      case 'k':
        this.fail(`\\${c} is not supported`);
    }
    if (/[1-9]/.test(c)) this.fail(`backreference \\${c} is not supported`);
    const part = this.escape();
    return typeof part === 'number' ? this.literal(part, ci) : part.matcher;
  }

  /** An escape sequence at this.i: a literal code point or a one-code-point matcher. */
  private escape(): number | ClassPart {
    this.i++;
    const c = this.peek();
    this.i++;
    const set = (flat: string, negated = false): ClassPart =>
      negated ? { matcher: `[^${flat}]` } : { matcher: `[${flat}]`, flat };
    switch (c) {
      case 't': return 9;
      case 'n': return 10;
      case 'r': return 13;
      case 'f': return 12;
      case 'v': return 11;
      case 'a': return 7;
      case 'e': return 27;
      case '0': return 0;
      case 's': return set('\\p{White_Space}');
      case 'S': return { matcher: '\\P{White_Space}', flat: '\\P{White_Space}' };
      case 'd': return set('\\p{Nd}');
      case 'D': return { matcher: '\\P{Nd}', flat: '\\P{Nd}' };
      case 'w': return set(WORD);
      case 'W': return set(WORD, true);
      case 'h': return set('0-9a-fA-F');
      case 'H': return set('0-9a-fA-F', true);
      case 'x': {
        const m = /^\{([0-9a-fA-F]+)\}|^[0-9a-fA-F]{1,2}/.exec(this.src.slice(this.i));
        if (!m) this.fail(`bad \\x escape at offset ${this.i - 2}`);
        this.i += m[0].length;
        return parseInt(m[1] ?? m[0], 16);
      }
      case 'u': {
        const m = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i));
        if (!m) this.fail(`bad \\u escape at offset ${this.i - 2}`);
        this.i += 4;
        return parseInt(m[0], 16);
      }
      case 'p':
      case 'P': {
        let name: string;
        if (this.peek() === '{') {
          const end = this.src.indexOf('}', this.i);
          if (end < 0) this.fail('unterminated \\p{');
          name = this.src.slice(this.i + 1, end);
          this.i = end + 1;
        } else {
          name = this.peek();
          this.i++;
        }
        let negated = c === 'P';
        if (name.startsWith('^')) {
          negated = !negated;
          name = name.slice(1);
        }
        if (name.toLowerCase() === 'any') return negated ? { matcher: '[^\\s\\S]' } : { matcher: '[\\s\\S]', flat: '\\s\\S' };
        const prop = `\\p{${propertyName(name)}}`;
        return negated ? { matcher: `\\P{${propertyName(name)}}`, flat: `\\P{${propertyName(name)}}` } : { matcher: prop, flat: prop };
      }
      case '':
        this.fail('pattern ends with a backslash');
    }
    if (/[A-Za-z0-9]/.test(c)) this.fail(`unsupported escape \\${c}`);
    this.i--;
    return this.readCodePoint();
  }

  /** A bracketed class at this.i, with nesting (union) and && (intersection). */
  private charClass(ci: boolean): ClassPart {
    this.i++;
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.i++;
    }
    const operands: ClassPart[] = [];
    let flat: string[] = [];
    let others: string[] = [];
    let first = true;
    const endOperand = () => {
      if (others.length === 0) operands.push({ matcher: `[${flat.join('')}]`, flat: flat.join('') });
      else {
        if (flat.length > 0) others.unshift(`[${flat.join('')}]`);
        operands.push({ matcher: `(?:${others.join('|')})` });
      }
      flat = [];
      others = [];
    };
    for (;;) {
      if (this.i >= this.src.length) this.fail('unterminated [');
      const c = this.peek();
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === '&' && this.peek(1) === '&') {
        this.i += 2;
        endOperand();
        continue;
      }
      if (c === '[') {
        const inner = this.charClass(ci);
        if (inner.flat !== undefined) flat.push(inner.flat);
        else others.push(inner.matcher);
        continue;
      }
      let lo: number | ClassPart;
      if (c === '\\') lo = this.escape();
      else lo = this.readCodePoint();
      if (typeof lo !== 'number') {
        if (lo.flat !== undefined) flat.push(lo.flat);
        else others.push(lo.matcher);
        continue;
      }
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '') {
        this.i++;
        const hi = this.peek() === '\\' ? this.escape() : this.readCodePoint();
        if (typeof hi !== 'number') this.fail(`class range ends in a set at offset ${this.i}`);
        if (hi < lo) this.fail(`class range out of order at offset ${this.i}`);
        flat.push(`${literalInClass(lo)}-${literalInClass(hi)}`);
        if (ci) flat.push(...this.rangeCaseVariants(lo, hi));
        continue;
      }
      for (const v of ci ? caseVariants(lo) : [lo]) flat.push(literalInClass(v));
    }
    endOperand();
    let result: ClassPart;
    if (operands.length === 1) result = operands[0]!;
    else {
      const last = operands[operands.length - 1]!;
      result = { matcher: `(?:${operands.slice(0, -1).map((o) => `(?=${o.matcher})`).join('')}${last.matcher})` };
    }
    if (!negated) return result;
    if (result.flat !== undefined) return { matcher: `[^${result.flat}]` };
    return { matcher: `(?:(?!${result.matcher})[\\s\\S])` };
  }

  private rangeCaseVariants(lo: number, hi: number): string[] {
    if (hi - lo > 512) this.fail('case-insensitive class range too large to expand');
    const out: string[] = [];
    for (let cp = lo; cp <= hi; cp++) for (const v of caseVariants(cp)) if (v < lo || v > hi) out.push(literalInClass(v));
    return out;
  }
}

/** Source text of the equivalent JS pattern (use with the `u` flag). */
export function translateRegexSource(pattern: string, where: string): string {
  return new Translator(pattern, where).translate();
}

/** A global, Unicode JS RegExp equivalent to an Oniguruma / Rust-regex pattern. */
export function translateRegex(pattern: string, where: string): RegExp {
  const risky = backtrackingRisk(pattern);
  if (risky !== undefined) throw new MlxkError(`${where}: regex ${JSON.stringify(pattern)} ${risky}`);
  const source = translateRegexSource(pattern, where);
  try {
    return new RegExp(source, 'gu');
  } catch (e) {
    throw new MlxkError(`${where}: regex ${JSON.stringify(pattern)} has no JS equivalent (${(e as Error).message})`);
  }
}

/** A regex for a {"String": s} or {"Regex": r} pattern object. */
export function patternRegex(pattern: unknown, where: string): RegExp {
  const p = pattern as Record<string, unknown> | null;
  if (p && typeof p.String === 'string') return new RegExp(p.String.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu');
  if (p && typeof p.Regex === 'string') return translateRegex(p.Regex, where);
  throw new MlxkError(`${where} must be {"String": …} or {"Regex": …}, got ${JSON.stringify(pattern)}`);
}

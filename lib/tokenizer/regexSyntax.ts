// Unicode pieces of the regex translation (regexTranslate.ts): property names as JS spells
// them, case-insensitive variants, and literal escaping for JS `u`-flag patterns.

const GENERAL_CATEGORIES: Record<string, string> = {
  l: 'L', lu: 'Lu', ll: 'Ll', lt: 'Lt', lm: 'Lm', lo: 'Lo', lc: 'LC', m: 'M', mn: 'Mn', mc: 'Mc', me: 'Me',
  n: 'N', nd: 'Nd', nl: 'Nl', no: 'No', p: 'P', pc: 'Pc', pd: 'Pd', ps: 'Ps', pe: 'Pe', pi: 'Pi', pf: 'Pf', po: 'Po',
  s: 'S', sm: 'Sm', sc: 'Sc', sk: 'Sk', so: 'So', z: 'Z', zs: 'Zs', zl: 'Zl', zp: 'Zp',
  c: 'C', cc: 'Cc', cf: 'Cf', cs: 'Cs', co: 'Co', cn: 'Cn',
  letter: 'L', uppercaseletter: 'Lu', lowercaseletter: 'Ll', titlecaseletter: 'Lt', modifierletter: 'Lm',
  otherletter: 'Lo', casedletter: 'LC', mark: 'M', nonspacingmark: 'Mn', spacingmark: 'Mc', enclosingmark: 'Me',
  number: 'N', decimalnumber: 'Nd', letternumber: 'Nl', othernumber: 'No', punctuation: 'P',
  connectorpunctuation: 'Pc', dashpunctuation: 'Pd', openpunctuation: 'Ps', closepunctuation: 'Pe',
  initialpunctuation: 'Pi', finalpunctuation: 'Pf', otherpunctuation: 'Po', symbol: 'S', mathsymbol: 'Sm',
  currencysymbol: 'Sc', modifiersymbol: 'Sk', othersymbol: 'So', separator: 'Z', spaceseparator: 'Zs',
  lineseparator: 'Zl', paragraphseparator: 'Zp', other: 'C', control: 'Cc', format: 'Cf', surrogate: 'Cs',
  privateuse: 'Co', unassigned: 'Cn',
};

const BINARY_PROPERTIES: Record<string, string> = {
  alphabetic: 'Alphabetic', whitespace: 'White_Space', uppercase: 'Uppercase', lowercase: 'Lowercase',
  emoji: 'Emoji', ideographic: 'Ideographic', ascii: 'ASCII',
};

/** Oniguruma's \w: Letter | Mark | Decimal_Number | Connector_Punctuation. */
export const WORD = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';

/** A \p{…} name as JS wants it: general categories and binary properties as is, bare names are scripts. */
export function propertyName(raw: string): string {
  const eq = raw.indexOf('=');
  if (eq >= 0) return raw;
  const key = raw.toLowerCase().replace(/[\s_-]/g, '');
  if (GENERAL_CATEGORIES[key]) return GENERAL_CATEGORIES[key];
  if (BINARY_PROPERTIES[key]) return BINARY_PROPERTIES[key];
  const script = raw.split(/[\s_]+/).map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join('_');
  return `Script=${script}`;
}

function hex(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

export function literalOutside(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if ('^$\\.*+?()[]{}|/'.includes(ch)) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0xd800 && cp < 0xe000)) return hex(cp);
  return ch;
}

export function literalInClass(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if ('\\]-[^'.includes(ch)) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0xd800 && cp < 0xe000)) return hex(cp);
  return ch;
}

let casedCodePoints: number[] | undefined;

/**
 * The code points that match cp case-insensitively under simple case folding, which is what
 * Rust regex's (?i) uses (so 's' also matches U+017F ſ and 'k' U+212A K), found with JS's own
 * /iu folding over the ~3000 code points that have a case mapping.
 */
export function caseVariants(cp: number): number[] {
  if (!casedCodePoints) {
    casedCodePoints = [];
    for (let c = 0; c < 0x20000; c++) {
      if (c >= 0xd800 && c < 0xe000) continue;
      const ch = String.fromCodePoint(c);
      if (ch.toLowerCase() !== ch || ch.toUpperCase() !== ch) casedCodePoints.push(c);
    }
  }
  const ch = String.fromCodePoint(cp);
  if (ch.toLowerCase() === ch && ch.toUpperCase() === ch) return [cp];
  const same = new RegExp(`^${literalOutside(cp)}$`, 'iu');
  const out = casedCodePoints.filter((c) => same.test(String.fromCodePoint(c)));
  return out.includes(cp) ? out : [cp, ...out];
}

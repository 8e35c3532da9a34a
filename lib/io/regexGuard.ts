// Catastrophic backtracking guard for regexes that come from files (tokenizer pat_str and split
// patterns, preset rules). JavaScript's and fancy-regex's engines backtrack; a quantified group
// that itself holds an unbounded quantifier, such as (a+)+ or (\w*)*, takes exponential time on
// a near-match. Those are refused; the patterns real models and presets use have none.

/** Why `source` may backtrack catastrophically, or undefined. */
export function backtrackingRisk(source: string): string | undefined {
  // One frame per open group: does it contain an unbounded quantifier (directly or nested)?
  const stack: boolean[] = [false];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      // skip a character class (nested classes for && intersections, escapes)
      let depth = 1;
      for (i++; i < source.length && depth > 0; i++) {
        if (source[i] === '\\') i++;
        else if (source[i] === '[') depth++;
        else if (source[i] === ']') depth--;
      }
      i--;
      continue;
    }
    if (c === '(') {
      stack.push(false);
      continue;
    }
    if (c === ')') {
      const inner = stack.length > 1 ? stack.pop()! : false;
      const q = unboundedQuantifierAt(source, i + 1);
      if (inner && q) return `has a repeated group holding a repetition ("…)${source.slice(i + 1, i + 1 + q)}" after a group with * + or {n,} inside), which can backtrack exponentially`;
      if (inner || q) stack[stack.length - 1] = true;
      continue;
    }
    if (unboundedQuantifierAt(source, i) > 0) stack[stack.length - 1] = true;
  }
  return undefined;
}

/** The length of an unbounded quantifier (*, +, {n,}, {n,m} with m > 1) starting at i, else 0. */
function unboundedQuantifierAt(s: string, i: number): number {
  const c = s[i];
  if (c === '*' || c === '+') return 1;
  if (c !== '{') return 0;
  const m = /^\{(\d*)(,(\d*))?\}/.exec(s.slice(i, i + 24));
  if (!m) return 0;
  const unbounded = m[2] !== undefined && (m[3] === '' || Number(m[3]) > 1);
  const many = m[2] === undefined && Number(m[1]) > 1;
  return unbounded || many ? m[0].length : 0;
}

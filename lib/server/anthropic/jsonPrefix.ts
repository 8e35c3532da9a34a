// Tracks whether streamed tool arguments are still a prefix of a JSON object (RFC 8259 grammar).
// Anthropic's SDKs (and Claude Code) parse every input_json_delta's running text with a partial
// JSON parser and throw on text that cannot start an object, so a model that writes malformed
// arguments would abort the client's whole stream; pieces are forwarded only while they keep the
// text a valid prefix. `closed()` completes what was forwarded at the last point where a value
// ended, so the non-streamed message holds the input a streaming client ends up with.

type Container = { kind: '{' | '['; expect: 'key' | 'colon' | 'value' | 'comma' | 'first' };

export class JsonObjectPrefix {
  private readonly stack: Container[] = [];
  private text = '';
  private valid = true;
  private done = false;
  private inString = false;
  private escape = 0; // 1 after '\', 2..5 inside \uXXXX
  private scalar = ''; // a number or literal being read
  private safe = { len: 0, closers: '' };

  get isValid(): boolean {
    return this.valid;
  }

  /** Appends a piece and returns the part of it that keeps the text a valid prefix ('' once it is not). */
  push(piece: string): string {
    let accepted = '';
    for (const ch of piece) {
      if (!this.valid) break;
      this.valid = this.step(ch);
      if (!this.valid) break;
      accepted += ch;
      this.text += ch;
    }
    return accepted;
  }

  /** The valid text cut at the last complete value and closed: always a JSON object, or '' before one opened. */
  closed(): string {
    return this.text.slice(0, this.safe.len) + this.safe.closers;
  }

  private step(ch: string): boolean {
    if (this.inString) return this.stringStep(ch);
    if (this.scalar) {
      if (/[0-9a-zA-Z.+-]/.test(ch)) {
        this.scalar += ch;
        return /^-?(0|[1-9]\d*)?(\.\d*)?([eE][+-]?\d*)?$/.test(this.scalar) || /^(t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?)$/.test(this.scalar);
      }
      if (!/^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/.test(this.scalar)) return false;
      this.scalar = '';
      this.valueEnded(0);
    }
    if (/\s/.test(ch)) return true;
    if (this.done) return false;
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      if (ch !== '{') return false;
      return this.open('{', 1);
    }
    switch (top.expect) {
      case 'first':
      case 'key':
        if (ch === '}' && top.kind === '{' && top.expect === 'first') return this.close(1);
        if (ch === ']' && top.kind === '[' && top.expect === 'first') return this.close(1);
        if (top.kind === '[') return this.value(ch);
        if (ch !== '"') return false;
        this.inString = true;
        return true;
      case 'colon':
        if (ch !== ':') return false;
        top.expect = 'value';
        return true;
      case 'value':
        return this.value(ch);
      case 'comma':
        if (ch === ',') {
          top.expect = top.kind === '{' ? 'key' : 'value';
          return true;
        }
        if ((ch === '}' && top.kind === '{') || (ch === ']' && top.kind === '[')) return this.close(1);
        return false;
    }
  }

  private value(ch: string): boolean {
    if (ch === '{' || ch === '[') return this.open(ch, 1);
    if (ch === '"') {
      this.inString = true;
      return true;
    }
    if (/[-0-9tfn]/.test(ch)) {
      this.scalar = ch;
      return true;
    }
    return false;
  }

  private stringStep(ch: string): boolean {
    if (this.escape === 1) {
      if (ch === 'u') this.escape = 2;
      else if ('"\\/bfnrt'.includes(ch)) this.escape = 0;
      else return false;
      return true;
    }
    if (this.escape >= 2) {
      if (!/[0-9a-fA-F]/.test(ch)) return false;
      this.escape = this.escape === 5 ? 0 : this.escape + 1;
      return true;
    }
    if (ch === '\\') this.escape = 1;
    else if (ch === '"') {
      this.inString = false;
      const top = this.stack[this.stack.length - 1]!;
      if (top.kind === '{' && (top.expect === 'key' || top.expect === 'first')) top.expect = 'colon';
      else this.valueEnded(1);
    } else if (ch < ' ') return false;
    return true;
  }

  private open(kind: '{' | '[', width: number): boolean {
    this.stack.push({ kind, expect: 'first' });
    this.markSafe(width);
    return true;
  }

  private close(width: number): boolean {
    this.stack.pop();
    if (this.stack.length === 0) this.done = true;
    this.valueEnded(width);
    return true;
  }

  /** A value just ended (`width` = characters of the current step that belong to it). */
  private valueEnded(width: number): void {
    const top = this.stack[this.stack.length - 1];
    if (top) top.expect = 'comma';
    this.markSafe(width);
  }

  private markSafe(width: number): void {
    const closers = this.stack.map((c) => (c.kind === '{' ? '}' : ']')).reverse().join('');
    this.safe = { len: this.text.length + width, closers };
  }
}

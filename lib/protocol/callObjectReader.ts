// Reads a JSON tool call {"name": "...", "arguments": {...}} as it is generated, so the arguments
// can be passed on piece by piece before the object is complete. Only the top-level object is
// interpreted; the arguments value is delimited (strings, escapes, nesting) but kept as raw text.
// "parameters" is read as a synonym of "arguments" (some Hermes-style fine-tunes write it).

type Phase = 'before' | 'key' | 'inKey' | 'colon' | 'value' | 'inValue' | 'afterValue' | 'done' | 'failed';

export interface ReadResult {
  /** The function name, in the feed where it became known. */
  name?: string;
  /** Raw text of the arguments value available now (only once the name is known). */
  args: string;
}

export class CallObjectReader {
  private phase: Phase = 'before';
  private key = '';
  private keyEscape = false;
  private raw = '';
  private depth = 0;
  private inString = false;
  private escape = false;
  private scalar = false;
  private valueKey: 'name' | 'arguments' | 'other' = 'other';
  private argsBuffered = '';
  /** The arguments value is an object or array (passed on as it comes), not a string or scalar (read whole). */
  private argsStreamed = false;
  private nameValue: string | undefined;
  private error: string | undefined;

  get name(): string | undefined {
    return this.nameValue;
  }

  /** The object is complete. */
  get done(): boolean {
    return this.phase === 'done';
  }

  /** Why the text is not a tool-call object, once that is known. */
  get failure(): string | undefined {
    return this.error;
  }

  feed(chunk: string): ReadResult {
    const out: ReadResult = { args: '' };
    for (const ch of chunk) {
      if (this.phase === 'failed') break;
      this.step(ch, out);
    }
    return out;
  }

  private fail(why: string): void {
    this.phase = 'failed';
    this.error = why;
  }

  private step(ch: string, out: ReadResult): void {
    const ws = ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t';
    switch (this.phase) {
      case 'before':
        if (ch === '{') this.phase = 'key';
        else if (!ws) this.fail(`expected "{" but found ${JSON.stringify(ch)}`);
        return;
      case 'key':
        if (ch === '"') {
          this.phase = 'inKey';
          this.key = '';
        } else if (ch === '}') this.phase = 'done';
        else if (!ws) this.fail(`expected a key but found ${JSON.stringify(ch)}`);
        return;
      case 'inKey':
        if (this.keyEscape) {
          this.key += ch;
          this.keyEscape = false;
        } else if (ch === '\\') this.keyEscape = true;
        else if (ch === '"') this.phase = 'colon';
        else this.key += ch;
        return;
      case 'colon':
        if (ch === ':') {
          this.phase = 'value';
          this.valueKey = this.key === 'name' ? 'name' : this.key === 'arguments' || this.key === 'parameters' ? 'arguments' : 'other';
        } else if (!ws) this.fail(`expected ":" after "${this.key}"`);
        return;
      case 'value':
        if (ws) return;
        this.raw = '';
        this.depth = 0;
        this.inString = false;
        this.escape = false;
        this.scalar = false;
        if (ch === '{' || ch === '[') this.depth = 1;
        else if (ch === '"') this.inString = true;
        else if (ch === '}' || ch === ']' || ch === ',') return this.fail(`missing value for "${this.key}"`);
        else this.scalar = true;
        this.phase = 'inValue';
        if (this.valueKey === 'arguments') this.argsStreamed = ch === '{' || ch === '[';
        this.take(ch, out);
        return;
      case 'inValue':
        this.valueChar(ch, out);
        return;
      case 'afterValue':
        if (ch === ',') this.phase = 'key';
        else if (ch === '}') this.phase = 'done';
        else if (!ws) this.fail(`expected "," or "}" but found ${JSON.stringify(ch)}`);
        return;
      case 'done':
        return;
    }
  }

  private valueChar(ch: string, out: ReadResult): void {
    if (this.scalar) {
      if (ch === ',' || ch === '}' || ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') {
        this.endValue(out);
        this.step(ch, out);
        return;
      }
      this.take(ch, out);
      return;
    }
    this.take(ch, out);
    if (this.inString) {
      if (this.escape) this.escape = false;
      else if (ch === '\\') this.escape = true;
      else if (ch === '"') {
        this.inString = false;
        if (this.depth === 0) this.endValue(out);
      }
      return;
    }
    if (ch === '"') this.inString = true;
    else if (ch === '{' || ch === '[') this.depth++;
    else if (ch === '}' || ch === ']') {
      this.depth--;
      if (this.depth === 0) this.endValue(out);
    }
  }

  /** One character of the current value. */
  private take(ch: string, out: ReadResult): void {
    if (this.valueKey === 'other') return;
    this.raw += ch;
    if (this.valueKey === 'arguments' && this.argsStreamed) {
      if (this.nameValue !== undefined) out.args += ch;
      else this.argsBuffered += ch;
    }
  }

  private endValue(out: ReadResult): void {
    this.phase = 'afterValue';
    if (this.valueKey === 'name') {
      let name: unknown;
      try {
        name = JSON.parse(this.raw);
      } catch {
        name = undefined;
      }
      if (typeof name !== 'string' || name.length === 0) return this.fail(`"name" is not a non-empty string: ${this.raw}`);
      this.nameValue = name;
      out.name = name;
      out.args += this.argsBuffered;
      this.argsBuffered = '';
    } else if (this.valueKey === 'arguments' && !this.argsStreamed) {
      // A JSON-encoded string holds the arguments text; null means none; another scalar is kept
      // as written (and reported as invalid when the call ends).
      let text = this.raw;
      if (this.raw.startsWith('"')) {
        try {
          text = String(JSON.parse(this.raw));
        } catch {
          text = this.raw;
        }
      } else if (this.raw === 'null') text = '';
      if (this.nameValue !== undefined) out.args += text;
      else this.argsBuffered = text;
    }
  }

  /** End of text: a scalar value at the very end is complete. */
  end(out: ReadResult): void {
    if (this.phase === 'inValue' && this.scalar) this.endValue(out);
  }
}

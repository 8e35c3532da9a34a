// Errors the CLI prints as one line ("mlxk: <message>") with a non-zero exit,
// instead of a stack trace. Messages name the file/field/value and what was expected.

export class MlxkError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'MlxkError';
  }
}

/** A checkpoint file or directory that is missing, truncated, corrupt or inconsistent. */
export class CheckpointError extends MlxkError {
  constructor(readonly file: string, detail: string, hint?: string) {
    super(`${file}: ${detail}`, hint);
    this.name = 'CheckpointError';
  }

  /** An MlxkError raised while reading a model's files (its message already names the file), as a file error. */
  static wrap(e: unknown, file: string): unknown {
    if (!(e instanceof MlxkError) || e instanceof CheckpointError) return e;
    const c = new CheckpointError(file, '', e.hint);
    c.message = e.message;
    return c;
  }
}

/** A message from elsewhere (V8's JSON errors quote the text around the error, newlines included) fit for a one-line error. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ');
}

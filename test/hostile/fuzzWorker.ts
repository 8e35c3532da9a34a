// A long-lived `mlxk` for the fuzz test (fuzz.test.ts): one command line per stdin line, run
// in-process the way bin/mlxk runs it (main's catch → reportError), the result as one JSON line
// on fd 3. Starting Node and importing the CLI costs more than inspecting the tiny model, so the
// fuzz reuses this process; a hang or a signal kills it and the parent starts another. What
// would have killed the real CLI with a stack trace (an uncaught exception or unhandled rejection)
// is reported as the current command's stderr, so the parent judges it like any other output.
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { buildProgram } from '../../lib/cli/main.js';
import { reportError } from '../../lib/cli/errors.js';

class Exit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

let stdout = '';
let stderr = '';
const capture = (sink: 'out' | 'err') => ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
  const s = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  if (sink === 'out') stdout += s;
  else stderr += s;
  const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
  cb?.();
  return true;
}) as typeof process.stdout.write;
process.stdout.write = capture('out');
process.stderr.write = capture('err');
process.exit = ((code?: number) => {
  throw new Exit(code ?? 0);
}) as typeof process.exit;
const crash = (e: unknown) => {
  stderr += `Uncaught ${(e as Error)?.stack ?? String(e)}\n`;
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

async function run(args: string[]): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'mlxk', ...args]);
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof Exit) return e.code;
    if ((e as { code?: string }).code?.startsWith('commander.')) return (e as { exitCode: number }).exitCode;
    return reportError(e);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { id, args } = JSON.parse(line) as { id: number; args: string[] };
  stdout = '';
  stderr = '';
  const code = await run(args);
  // Let a rejection left behind by the command surface before it is judged.
  await new Promise((r) => setTimeout(r, 0));
  writeSync(3, `${JSON.stringify({ id, code, stdout: stdout.slice(0, 4000), stderr: stderr.slice(0, 4000) })}\n`);
}

// Claude Code (@anthropic-ai/claude-code, pinned) headless against `mlxk serve`: `claude -p …
// --output-format json` with ANTHROPIC_BASE_URL, its whole system prompt and tool set (~17K
// tokens here), streamed. The scripted model calls Bash in Kimi's format; Claude Code runs the
// command and sends the result back; the model's answer quotes what the command printed, so the
// final result proves the tool_result reached the model. What Claude Code sent is compared with
// test/fixtures/clients/claude-code.json.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, tmpDir } from '../helpers.js';
import { API_KEY, COMMAND, type ClientServer, isolatedEnv, kimiCall, lastTurn, packageVersion, PRINTED, startClientServer, synthLongModel, textOf } from './harness.js';
import { checkFixture, fixtureOf } from './shapes.js';

const CLAUDE = join(REPO, 'node_modules', '.bin', 'claude');

/** The model: Bash on the user's request, then an answer quoting the tool result; "ok" to anything else. */
function script(req: Parameters<Parameters<typeof startClientServer>[1]>[0]): string {
  const last = lastTurn(req);
  if (last?.role === 'tool') return `The command printed ${/mlxk-\d+/.exec(textOf(last))?.[0] ?? 'nothing'}.`;
  if (last?.role === 'user' && textOf(last).includes('run the check') && req.prompt.kind === 'chat' && req.prompt.tools.some((t) => t.name === 'Bash')) {
    return kimiCall(req, 'Bash', { command: COMMAND, description: 'Print the check value' });
  }
  return 'ok';
}

export interface ClaudeRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** One headless Claude Code turn against `baseUrl`, isolated from the user's config and the network. */
export function runClaude(baseUrl: string, prompt: string, cwd: string): Promise<ClaudeRun> {
  const home = tmpDir('mlxk-claude-home-');
  const env = isolatedEnv({
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: API_KEY,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
  });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(CLAUDE, ['-p', prompt, '--output-format', 'json', '--allowedTools', 'Bash'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

let srv: ClientServer;
test.before(async () => {
  srv = await startClientServer(synthLongModel(), script, { aliases: ['claude-*'] });
});
test.after(() => srv.close());

test('claude -p: a Bash tool call runs, its output reaches the model, the answer comes back', async () => {
  const cwd = tmpDir('mlxk-claude-work-');
  mkdirSync(cwd, { recursive: true });
  const run = await runClaude(srv.url, 'run the check command and tell me what it printed', cwd);
  assert.is(run.code, 0, `claude exited ${run.code}\n${run.stderr}\n${run.stdout}\n${srv.logs.join('\n')}`);
  const out = JSON.parse(run.stdout) as { is_error: boolean; result: string; num_turns: number; usage: { input_tokens: number; cache_read_input_tokens: number } };
  assert.is(out.is_error, false, run.stdout);
  assert.is(out.result, `The command printed ${PRINTED}.`);
  assert.is(out.num_turns, 2, 'the tool turn and the answer');

  const turns = srv.answered.filter((r) => r.api === 'anthropic.messages');
  assert.ok(turns.length >= 2, `${turns.length} generations`);
  const [first, second] = turns.slice(-2);
  assert.equal(first!.thinking, { enabled: true, omitted: true, budgetTokens: 8192 }, 'adaptive thinking, omitted display, effort medium');
  assert.ok(first!.prompt.kind === 'chat' && first!.prompt.messages.some((m, i) => i > 1 && m.role === 'system'), 'the environment arrives as a system turn inside messages');
  const result = second!.prompt.kind === 'chat' ? second!.prompt.messages.find((m) => m.role === 'tool') : undefined;
  assert.is(textOf(result).trim(), PRINTED, 'the tool result sent back is the real output of the command');
  assert.ok(out.usage.cache_read_input_tokens > 10_000, `the second request reused the first from the prompt cache (${out.usage.cache_read_input_tokens} cached)`);
  const logLines = srv.logs.filter((l) => l.startsWith('POST /v1/messages'));
  assert.ok(logLines.every((l) => l.includes(' | 200 | ')), logLines.join('\n'));
  const prompts = logLines.map((l) => Number(/prompt (\d+)/.exec(l)?.[1]));
  assert.ok(Math.max(...prompts) > 15_000, `Claude Code's prompt is long (${prompts.join(', ')} tokens)`);

  checkFixture('claude-code', fixtureOf('claude-code', packageVersion('@anthropic-ai/claude-code'), srv.recorded));
});

test.run();

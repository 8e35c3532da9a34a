// Claude Code (@anthropic-ai/claude-code, pinned) headless against `mlxk serve`: `claude -p …
// --output-format json` with ANTHROPIC_BASE_URL, its whole system prompt and tool set (~17K
// tokens here), streamed. The scripted model calls Bash in Kimi's format; Claude Code runs the
// command and sends the result back; the model's answer quotes what the command printed, so the
// final result proves the tool_result reached the model. What Claude Code sent is compared with
// test/fixtures/clients/claude-code.json.
import { mkdirSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tmpDir } from '../helpers.js';
import { type ClientServer, packageVersion, PRINTED, startClientServer, synthLongModel, textOf } from './harness.js';
import { claudeScript, runClaude } from './runners.js';
import { checkFixture, fixtureOf } from './shapes.js';

let srv: ClientServer;
test.before(async () => {
  srv = await startClientServer(synthLongModel(), claudeScript, { aliases: ['claude-*'] });
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

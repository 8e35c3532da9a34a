// OpenAI Codex CLI (@openai/codex, pinned; its linux-x64 binary comes from npm) headless against
// `mlxk serve` over the Responses API: a custom provider with wire_api = "responses" in a private
// CODEX_HOME, `codex exec --json`. The scripted model calls Codex's shell tool (exec_command) in
// Kimi's format; Codex runs it and sends the output back; the answer quotes it. A follow-up turn
// (`codex exec resume --last`) sends the whole history again and is served from the prompt cache.
// What Codex sent is compared with test/fixtures/clients/codex.json.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tmpDir } from '../helpers.js';
import { type ClientServer, packageVersion, PRINTED, startClientServer, synthLongModel } from './harness.js';
import { codexHome, codexScript, runCodex } from './runners.js';
import { checkFixture, fixtureOf } from './shapes.js';

let srv: ClientServer;
test.before(async () => {
  srv = await startClientServer(synthLongModel(), codexScript);
});
test.after(() => srv.close());

test('codex exec: the shell tool runs, its output reaches the model; a resumed turn continues from the cache', async () => {
  const home = codexHome(srv.url);
  const cwd = tmpDir('mlxk-codex-work-');
  const first = await runCodex(home, ['run the check command'], cwd);
  assert.is(first.code, 0, `${first.stderr}\n${srv.logs.join('\n')}`);
  const command = first.events.find((e) => e.type === 'item.completed' && e.item?.type === 'command_execution');
  assert.ok(command, JSON.stringify(first.events));
  assert.is(command!.item!.aggregated_output, PRINTED);
  assert.is(command!.item!.exit_code, 0);
  const answer = first.events.filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message').pop();
  assert.is(answer?.item?.text, `It printed ${PRINTED}.`);

  const second = await runCodex(home, ['resume', '--last', 'what did it print?'], cwd);
  assert.is(second.code, 0, second.stderr);
  const again = second.events.filter((e) => e.type === 'item.completed' && e.item?.type === 'agent_message').pop();
  assert.is(again?.item?.text, `Earlier it printed ${PRINTED}.`);
  const usage = second.events.find((e) => e.type === 'turn.completed')?.usage;
  assert.ok(usage && usage.cached_input_tokens > 10_000, `the follow-up reused the earlier turns from the prompt cache: ${JSON.stringify(usage)}`);

  const turns = srv.answered.filter((r) => r.api === 'openai.responses');
  assert.is(turns.length, 3, 'the call, the answer, the follow-up');
  assert.ok(turns.every((r) => r.responses?.store === false), 'Codex sends the whole history (store: false)');
  const logLines = srv.logs.filter((l) => l.startsWith('POST /v1/responses'));
  assert.ok(logLines.every((l) => l.includes(' | 200 | ')), logLines.join('\n'));

  checkFixture('codex', fixtureOf('codex', packageVersion('@openai/codex'), srv.recorded));
});

test.run();

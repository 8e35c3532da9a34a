// OpenAI Codex CLI (@openai/codex, pinned; its linux-x64 binary comes from npm) headless against
// `mlxk serve` over the Responses API: a custom provider with wire_api = "responses" in a private
// CODEX_HOME, `codex exec --json`. The scripted model calls Codex's shell tool (exec_command) in
// Kimi's format; Codex runs it and sends the output back; the answer quotes it. A follow-up turn
// (`codex exec resume --last`) sends the whole history again and is served from the prompt cache.
// What Codex sent is compared with test/fixtures/clients/codex.json.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, tmpDir } from '../helpers.js';
import { API_KEY, COMMAND, type ClientServer, isolatedEnv, kimiCall, lastTurn, MODEL, packageVersion, PRINTED, startClientServer, synthLongModel, textOf } from './harness.js';
import { checkFixture, fixtureOf } from './shapes.js';

const CODEX = join(REPO, 'node_modules', '.bin', 'codex');

function script(req: Parameters<Parameters<typeof startClientServer>[1]>[0]): string {
  const last = lastTurn(req);
  if (last?.role === 'tool') return `It printed ${/mlxk-\d+/.exec(textOf(last))?.[0] ?? 'nothing'}.`;
  const said = textOf(last);
  if (last?.role === 'user' && said.includes('what did it print')) {
    const earlier = req.prompt.kind === 'chat' ? req.prompt.messages.filter((m) => m.role === 'tool').map(textOf).join('\n') : '';
    return `Earlier it printed ${/mlxk-\d+/.exec(earlier)?.[0] ?? 'nothing'}.`;
  }
  if (last?.role === 'user' && said.includes('run the check') && req.prompt.kind === 'chat' && req.prompt.tools.some((t) => t.name === 'exec_command')) {
    return kimiCall(req, 'exec_command', { cmd: COMMAND });
  }
  return 'ok';
}

/** CODEX_HOME/config.toml as the README tells users to write it, plus what keeps a test offline. */
export function codexHome(baseUrl: string): string {
  const home = tmpDir('mlxk-codex-home-');
  writeFileSync(
    join(home, 'config.toml'),
    `model = "${MODEL}"
model_provider = "mlxk"
model_context_window = 65536
check_for_update_on_startup = false

[model_providers.mlxk]
name = "mlxk"
base_url = "${baseUrl}/v1"
wire_api = "responses"
env_key = "MLXK_API_KEY"

[analytics]
enabled = false
`,
  );
  return home;
}

export interface CodexRun {
  code: number | null;
  events: { type: string; item?: { type: string; text?: string; aggregated_output?: string; exit_code?: number | null }; usage?: { input_tokens: number; cached_input_tokens: number } }[];
  stderr: string;
  ms: number;
}

export function runCodex(home: string, args: string[], cwd: string): Promise<CodexRun> {
  const env = isolatedEnv({ HOME: home, CODEX_HOME: home, MLXK_API_KEY: API_KEY });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // The sandbox is bypassed: the test command is harmless and a container may lack namespaces.
    const child = spawn(CODEX, ['exec', '--skip-git-repo-check', '--json', '--dangerously-bypass-approvals-and-sandbox', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as CodexRun['events'][number]);
      resolve({ code, events, stderr: stderr + stdout, ms: performance.now() - started });
    });
  });
}

let srv: ClientServer;
test.before(async () => {
  srv = await startClientServer(synthLongModel(), script);
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

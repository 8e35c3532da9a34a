// How each client is run headless, and the scripted model each one talks to (shared by the
// tests in this directory and benchmarks/clients.ts).
import { execSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { jsonSchema, type LanguageModel, tool } from 'ai';
import type { GenerationRequest } from '../../lib/server/types.js';
import { REPO, tmpDir } from '../helpers.js';
import { API_KEY, COMMAND, isolatedEnv, kimiCall, lastTurn, MODEL, textOf } from './harness.js';

const CLAUDE = join(REPO, 'node_modules', '.bin', 'claude');
const CODEX = join(REPO, 'node_modules', '.bin', 'codex');

/** The model: Bash on the user's request, then an answer quoting the tool result; "ok" to anything else. */
export function claudeScript(req: GenerationRequest): string {
  const last = lastTurn(req);
  if (last?.role === 'tool') return `The command printed ${/mlxk-\d+/.exec(textOf(last))?.[0] ?? 'nothing'}.`;
  if (last?.role === 'user' && textOf(last).includes('run the check') && req.prompt.kind === 'chat' && req.prompt.tools.some((t) => t.name === 'Bash')) {
    return kimiCall(req, 'Bash', { command: COMMAND, description: 'Print the check value' });
  }
  return 'ok';
}

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

/** Runs a client to its exit (killed after 5 minutes), collecting its output. */
function runProcess(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** One headless Claude Code turn against `baseUrl`, isolated from the user's config and the network. */
export function runClaude(baseUrl: string, prompt: string, cwd: string): Promise<ProcessRun> {
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
  return runProcess(CLAUDE, ['-p', prompt, '--output-format', 'json', '--allowedTools', 'Bash'], cwd, env);
}

/** The model: exec_command on the user's request, an answer quoting its output; on the follow-up, what it printed before. */
export function codexScript(req: GenerationRequest): string {
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

export async function runCodex(home: string, args: string[], cwd: string): Promise<CodexRun> {
  const env = isolatedEnv({ HOME: home, CODEX_HOME: home, MLXK_API_KEY: API_KEY });
  // The sandbox is bypassed: the test command is harmless and a container may lack namespaces.
  const run = await runProcess(CODEX, ['exec', '--skip-git-repo-check', '--json', '--dangerously-bypass-approvals-and-sandbox', ...args], cwd, env);
  const events = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as CodexRun['events'][number]);
  return { code: run.code, events, stderr: run.stderr + run.stdout, ms: run.ms };
}

/** The model: run_command while it is offered and unanswered, then an answer quoting its output. */
export function aiSdkScript(req: GenerationRequest): string {
  const last = lastTurn(req);
  if (last?.role === 'tool') return `It printed ${/mlxk-\d+/.exec(textOf(last))?.[0] ?? 'nothing'}.`;
  if (req.prompt.kind === 'chat' && req.prompt.tools.some((t) => t.name === 'run_command')) return kimiCall(req, 'run_command', { command: COMMAND });
  return 'ok';
}


/** The AI SDK's tool: runs the command for real and returns what it printed. */
export const runCommand = tool({
  description: 'Run a shell command and return what it prints',
  inputSchema: jsonSchema<{ command: string }>({ type: 'object', properties: { command: { type: 'string' } }, required: ['command'], additionalProperties: false }),
  execute: async ({ command }) => execSync(command, { shell: '/bin/sh', encoding: 'utf8' }),
});

/** The served model through both AI SDK providers: OpenAI chat completions and Anthropic messages. */
export function aiSdkModels(baseUrl: string): [string, LanguageModel][] {
  return [
    ['openai-compatible', createOpenAICompatible({ name: 'mlxk', baseURL: `${baseUrl}/v1`, apiKey: API_KEY, includeUsage: true })(MODEL)],
    ['anthropic', createAnthropic({ baseURL: `${baseUrl}/v1`, apiKey: API_KEY })(MODEL)],
  ];
}

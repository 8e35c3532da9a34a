// One streamed, tool-using turn of each agent client against the same model on `mlxk serve`:
// Claude Code (`claude -p`), Codex CLI (`codex exec`), the AI SDK's streamText on both providers.
// A turn is: the user's prompt → the model's tool call → the client runs the tool → the result
// goes back → the model's answer. The model is test/clients' synthesized 64K-context one with the
// scripted sampler (the model runs every step; the tokens are chosen so every client gets the same
// call and answer). Each round starts a fresh server (cold prompt cache) per client.
// Measured per turn: the first request's prompt and its time to first token (server: arrival →
// first generated token, prompt rendering and prefill included), the answer request's prompt,
// cached part and time to first token, and the whole turn as the user waits for it (client start
// → exit or end of stream; client start-up and the tool run included). Baseline in the same run:
// the engine alone prefilling the first prompt's length (a Sequence in this process, no HTTP).
// Run: npm run build && node dist/benchmarks/clients.js [--rounds 3]
import { loadavg } from 'node:os';
import { stepCountIs, streamText } from 'ai';
import { machineInfo, machineLine } from '../lib/bench/machine.js';
import { DEFAULT_PREFILL_CHUNK, Sequence } from '../lib/engine/sequence.js';
import { LanguageModel } from '../lib/engine/languageModel.js';
import { type ClientServer, packageVersion, startClientServer, synthLongModel } from '../test/clients/harness.js';
import { aiSdkModels, aiSdkScript, claudeScript, codexHome, codexScript, runClaude, runCommand, runCodex } from '../test/clients/runners.js';
import { tmpDir } from '../test/helpers.js';

const ROUNDS = (() => {
  const i = process.argv.indexOf('--rounds');
  return i > 0 ? Number(process.argv[i + 1]) : 3;
})();
const PROMPT = 'run the check command and tell me what it printed';

interface Turn {
  client: string;
  turnMs: number;
  firstPrompt: number;
  firstTtftMs: number;
  answerPrompt: number;
  answerCached: number;
  answerTtftMs: number;
  requests: number;
}

/** The server's request log lines of generations, in order: prompt, cached, first token. */
function generations(srv: ClientServer): { prompt: number; cached: number; ttftMs: number }[] {
  return srv.logs
    .filter((l) => /^POST \/v1\/(messages|responses|chat\/completions) \|/.test(l))
    .map((l) => {
      const m = /prompt (\d+) \((\d+) cached\).*first token ([\d.]+) s/.exec(l);
      if (!m) throw new Error(`no timing in: ${l}`);
      return { prompt: Number(m[1]), cached: Number(m[2]), ttftMs: Number(m[3]) * 1000 };
    });
}

function turnOf(client: string, srv: ClientServer, turnMs: number): Turn {
  const g = generations(srv);
  // The tool call is the request that ends with the biggest cold prompt; the answer is the last.
  const first = g[0]!;
  const answer = g[g.length - 1]!;
  return { client, turnMs, firstPrompt: first.prompt, firstTtftMs: first.ttftMs, answerPrompt: answer.prompt, answerCached: answer.cached, answerTtftMs: answer.ttftMs, requests: g.length };
}

async function claudeTurn(model: string): Promise<Turn> {
  const srv = await startClientServer(model, claudeScript, { aliases: ['claude-*'] });
  try {
    const run = await runClaude(srv.url, PROMPT, tmpDir('mlxk-bench-claude-'));
    if (run.code !== 0 || !run.stdout.includes('mlxk-42')) throw new Error(`claude failed: ${run.stderr}${run.stdout}`);
    return turnOf(`Claude Code ${packageVersion('@anthropic-ai/claude-code')}`, srv, run.ms);
  } finally {
    await srv.close();
  }
}

async function codexTurn(model: string): Promise<Turn> {
  const srv = await startClientServer(model, codexScript);
  try {
    const run = await runCodex(codexHome(srv.url), [PROMPT], tmpDir('mlxk-bench-codex-'));
    if (run.code !== 0 || !JSON.stringify(run.events).includes('It printed mlxk-42')) throw new Error(`codex failed: ${run.stderr}`);
    return turnOf(`Codex CLI ${packageVersion('@openai/codex')}`, srv, run.ms);
  } finally {
    await srv.close();
  }
}

async function aiSdkTurns(model: string): Promise<Turn[]> {
  const turns: Turn[] = [];
  for (const [name] of aiSdkModels('http://unused')) {
    const srv = await startClientServer(model, aiSdkScript);
    try {
      const lm = aiSdkModels(srv.url).find(([n]) => n === name)![1];
      const t0 = performance.now();
      const r = streamText({ model: lm, prompt: PROMPT, tools: { run_command: runCommand }, stopWhen: stepCountIs(3), maxOutputTokens: 200 });
      let text = '';
      for await (const p of r.fullStream) if (p.type === 'text-delta') text += p.text;
      if (!text.includes('mlxk-42')) throw new Error(`AI SDK (${name}) answered ${JSON.stringify(text)}`);
      turns.push(turnOf(`AI SDK ${packageVersion('ai')} streamText, ${name}`, srv, performance.now() - t0));
    } finally {
      await srv.close();
    }
  }
  return turns;
}

/** The engine alone: prefill `tokens` prompt tokens in chunks, as the server does, to the first logits. */
async function enginePrefillMs(lm: LanguageModel, tokens: number): Promise<number> {
  const ids = lm.tokenizer.encode(PROMPT.repeat(Math.ceil(tokens / 8))).slice(0, tokens);
  const seq = new Sequence(lm.model);
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i += DEFAULT_PREFILL_CHUNK) await seq.prefill(ids.slice(i, i + DEFAULT_PREFILL_CHUNK), Math.min(DEFAULT_PREFILL_CHUNK, ids.length - i));
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => (ms / 1000).toFixed(2);

const machine = machineInfo();
const model = synthLongModel();
const lm = await LanguageModel.load(model);
const rows = new Map<string, Turn[]>();
const engine = new Map<number, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const t of [await claudeTurn(model), await codexTurn(model), ...(await aiSdkTurns(model))]) {
    rows.set(t.client, [...(rows.get(t.client) ?? []), t]);
    engine.set(t.firstPrompt, [...(engine.get(t.firstPrompt) ?? []), await enginePrefillMs(lm, t.firstPrompt)]);
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
}
const load = loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`Machine: ${machineLine(machine)}; load average at end ${load}. Median of ${ROUNDS} rounds, a fresh server (cold cache) per client and round.\n`);
console.log('| client | requests | first prompt (tokens) | first token | engine alone: prefill of that prompt | answer prompt (cached) | answer first token | whole turn |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [client, ts] of rows) {
  const t = ts[0]!;
  const eng = median(engine.get(t.firstPrompt)!);
  console.log(
    `| ${client} | ${t.requests} | ${t.firstPrompt} | ${s(median(ts.map((x) => x.firstTtftMs)))} s | ${s(eng)} s | ${t.answerPrompt} (${t.answerCached}) | ${s(median(ts.map((x) => x.answerTtftMs)))} s | ${s(median(ts.map((x) => x.turnMs)))} s |`,
  );
}

// The Vercel AI SDK (ai, @ai-sdk/openai-compatible, @ai-sdk/anthropic; pinned) against
// `mlxk serve`: generateText and streamText with a tool whose execute runs a real command, on
// both providers (OpenAI chat completions and Anthropic messages), two steps each: the call in
// Kimi's format parsed into the SDK's tool call, its result sent back, the answer quoting it.
// What the providers sent is compared with test/fixtures/clients/ai-sdk.json.
import { generateText, type LanguageModel, stepCountIs, streamText } from 'ai';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMAND, type ClientServer, packageVersion, PRINTED, startClientServer, synthLongModel } from './harness.js';
import { aiSdkModels, aiSdkScript, runCommand } from './runners.js';
import { checkFixture, fixtureOf } from './shapes.js';

let srv: ClientServer;
let providers: [string, LanguageModel][];
test.before(async () => {
  srv = await startClientServer(synthLongModel(), aiSdkScript);
  providers = aiSdkModels(srv.url);
});
test.after(() => srv.close());

const prompt = 'run the check command and tell me what it printed';

test('generateText with a tool, on both providers: call → result → answer', async () => {
  for (const [name, model] of providers) {
    const r = await generateText({ model, prompt, tools: { run_command: runCommand }, stopWhen: stepCountIs(3), maxOutputTokens: 200 });
    assert.is(r.text, `It printed ${PRINTED}.`, name);
    assert.is(r.steps.length, 2, name);
    const [call] = r.steps[0]!.toolCalls;
    assert.equal([call!.toolName, call!.input], ['run_command', { command: COMMAND }], name);
    assert.is(r.steps[0]!.toolResults[0]!.output, PRINTED, name);
    assert.is(r.steps[0]!.finishReason, 'tool-calls', name);
    assert.is(r.finishReason, 'stop', name);
    assert.ok(r.totalUsage.inputTokens! > 0 && r.totalUsage.outputTokens! > 0, `${name}: usage is reported`);
  }
});

test('streamText with a tool, on both providers: the call streams in pieces, the answer as text deltas', async () => {
  for (const [name, model] of providers) {
    const r = streamText({ model, prompt, tools: { run_command: runCommand }, stopWhen: stepCountIs(3), maxOutputTokens: 200 });
    const parts: string[] = [];
    let text = '';
    for await (const p of r.fullStream) {
      parts.push(p.type);
      if (p.type === 'text-delta') text += p.text;
      if (p.type === 'error') throw new Error(`${name}: ${String(p.error)}`);
    }
    assert.is(text, `It printed ${PRINTED}.`, name);
    for (const t of ['tool-input-start', 'tool-input-delta', 'tool-call', 'tool-result', 'text-delta', 'finish']) assert.ok(parts.includes(t), `${name}: ${t} in ${[...new Set(parts)].join(', ')}`);
    assert.ok(parts.filter((t) => t === 'tool-input-delta').length > 1, `${name}: the arguments stream in pieces`);
    assert.ok(parts.filter((t) => t === 'text-delta').length > 1, `${name}: the answer streams in pieces`);
  }
  assert.ok(srv.logs.filter((l) => l.startsWith('POST')).every((l) => l.includes(' | 200 | ')), srv.logs.join('\n'));
  checkFixture('ai-sdk', fixtureOf('ai-sdk', `ai ${packageVersion('ai')}, @ai-sdk/openai-compatible ${packageVersion('@ai-sdk/openai-compatible')}, @ai-sdk/anthropic ${packageVersion('@ai-sdk/anthropic')}`, srv.recorded));
});

test.run();

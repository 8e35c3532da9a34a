// Anthropic Messages as Claude Code 2.1 sends it (test/fixtures/clients/claude-code.json records
// the shape), through the real translation and tiny-kimi's chat template: system turns inside
// `messages`, adaptive thinking with display "omitted" (reasoning carried in the signature),
// output_config.effort (top level and per turn) as a reasoning budget, clear_thinking, deferred
// tools and tool_reference results (which must not change the prompt before them, so the prefix
// cache keeps the conversation), metadata, cache_control and unknown fields; and what is refused.
import Anthropic from '@anthropic-ai/sdk';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { carriedReasoning } from '../../lib/server/carriedReasoning.js';
import { exchange, fakeFetch, tok, type Exchange, type Script } from './fakeEngine.js';

const bash = { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] }, cache_control: { type: 'ephemeral' } };
const webFetch = { name: 'WebFetch', description: 'Fetch a URL', input_schema: { type: 'object', properties: { url: { type: 'string' } } }, defer_loading: true };
const toolSearch = { name: 'ToolSearch', description: 'Load deferred tools', input_schema: { type: 'object', properties: { query: { type: 'string' } } } };
const placeholder = { name: 'DeferredToolPlaceholder', description: 'never call this', input_schema: { type: 'object', properties: {} }, defer_loading: true };

/** The fields Claude Code 2.1.x sends with every main-loop request. */
function claudeCodeBody(messages: unknown[], tools: unknown[] = [bash, toolSearch, placeholder]) {
  return {
    model: 'claude-opus-5-5',
    messages,
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.332.0b8; cc_entrypoint=sdk-cli;' },
      { type: 'text', text: 'You are a Claude agent.', cache_control: { type: 'ephemeral' } },
    ],
    tools,
    metadata: { user_id: '{"device_id":"d","session_id":"s"}' },
    max_tokens: 128000,
    thinking: { type: 'adaptive', display: 'omitted' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    output_config: { effort: 'medium' },
    stream: true,
    a_field_from_a_future_client: { anything: true },
  };
}

const firstTurn = [
  { role: 'user', content: [{ type: 'text', text: '<system-reminder>\nAttribution…\n</system-reminder>\n' }, { type: 'text', text: 'run the command' }] },
  { role: 'system', content: [{ type: 'text', text: '# Environment\nPlatform: linux', cache_control: { type: 'ephemeral' } }], output_config: { effort: 'low' } },
];

function ok(ex: Exchange): Exchange {
  assert.is(ex.status, 200, ex.body);
  return ex;
}

test('system turns inside messages are rendered where they occur; deferred tools stay out of the tool list; unknown fields are ignored', () => {
  const ex = ok(exchange('messages', claudeCodeBody(firstTurn), { output: 'ok' }));
  const text = ex.prepared!.text;
  const user = text.indexOf('<|im_user|>user<|im_middle|><system-reminder>');
  const env = text.indexOf('<|im_system|>system<|im_middle|># Environment\nPlatform: linux<|im_end|>');
  assert.ok(user > 0 && env > user, 'the system turn follows the user turn it came after');
  assert.ok(text.endsWith('<|im_end|><|im_assistant|>assistant<|im_middle|>'));
  assert.ok(text.startsWith('<|im_system|>tool_declare<|im_middle|>'));
  const declared = text.slice(0, text.indexOf('<|im_end|>'));
  assert.match(declared, /"name": ?"Bash"/);
  assert.match(declared, /"name": ?"ToolSearch"/);
  assert.not.match(declared, /DeferredToolPlaceholder/, 'a defer_loading tool is not shown to the model');
  assert.match(text, /<\|im_system\|>system<\|im_middle\|>x-anthropic-billing-header: cc_version=2\.1\.332\.0b8; cc_entrypoint=sdk-cli;\nYou are a Claude agent\.<\|im_end\|>/);
  assert.equal(ex.request!.thinking, { enabled: true, omitted: true, budgetTokens: 2048 }, 'the per-turn effort (low) wins over the top level (medium)');
});

test('output_config.effort → reasoning budget, the tighter of it and budget_tokens; disabled stays off', () => {
  const thinkingOf = (extra: Record<string, unknown>) => ok(exchange('messages', { model: 'm', max_tokens: 50000, messages: [{ role: 'user', content: 'x' }], ...extra }, { output: 'ok' })).request!.thinking;
  assert.equal(thinkingOf({ output_config: { effort: 'high' }, thinking: { type: 'adaptive' } }), { enabled: true, budgetTokens: 32768 });
  assert.equal(thinkingOf({ output_config: { effort: 'high' }, thinking: { type: 'enabled', budget_tokens: 2048 } }), { enabled: true, budgetTokens: 2048 });
  assert.equal(thinkingOf({ output_config: { effort: 'max' }, thinking: { type: 'adaptive' } }), { enabled: true });
  assert.equal(thinkingOf({ output_config: { effort: 'low' } }), { budgetTokens: 2048 }, 'without thinking: the template default, capped');
  assert.equal(thinkingOf({ output_config: { effort: 'low' }, thinking: { type: 'disabled' } }), { enabled: false });
});

test('display "omitted": no thinking text is sent, the signature carries it, and sent back it becomes the reasoning again', async () => {
  const log: Exchange[] = [];
  let script: Script = { output: '<think>The secret plan.</think>Done.' };
  const client = new Anthropic({ apiKey: 'k', baseURL: 'http://mlxk.test', maxRetries: 0, fetch: fakeFetch(() => script, log) });
  const body = claudeCodeBody(firstTurn) as never;
  const m = await client.messages.stream(body).finalMessage();
  assert.not.match(log[0]!.body, /thinking_delta|secret/, 'the reasoning text is not in the stream');
  assert.match(log[0]!.body, /signature_delta/);
  const [thinking, text] = m.content;
  assert.is(thinking!.type, 'thinking');
  const t = thinking as { thinking: string; signature: string };
  assert.is(t.thinking, '');
  assert.is(carriedReasoning(t.signature), 'The secret plan.');
  assert.equal(text, { type: 'text', text: 'Done.', citations: null });
  const plain = ok(exchange('messages', { ...claudeCodeBody(firstTurn), stream: false }, { output: '<think>Plan B.</think>Done.' }));
  const blocks = JSON.parse(plain.body).content as { type: string; thinking?: string; signature?: string }[];
  assert.is(blocks[0]!.thinking, '');
  assert.is(carriedReasoning(blocks[0]!.signature!), 'Plan B.');

  script = { output: 'ok' };
  const history = [...firstTurn, { role: 'assistant', content: [t, { type: 'text', text: 'Done.' }] }, { role: 'user', content: 'and now?' }];
  await client.messages.create({ ...claudeCodeBody(history), max_tokens: 1000, stream: false } as never);
  const assistant = log[log.length - 1]!.request!.prompt;
  assert.ok(assistant.kind === 'chat');
  assert.equal(assistant.messages.find((x) => x.role === 'assistant'), { role: 'assistant', content: 'Done.', reasoning_content: 'The secret plan.' });
});

test('context_management clear_thinking: keep "all", the default one turn, or N turns', () => {
  const turn = (n: number) => [{ role: 'user', content: `q${n}` }, { role: 'assistant', content: [{ type: 'thinking', thinking: `r${n}`, signature: '' }, { type: 'text', text: `a${n}` }] }];
  const messages = [...turn(1), ...turn(2), ...turn(3), { role: 'user', content: 'q4' }];
  const kept = (keep: unknown) => {
    const edit = keep === undefined ? { type: 'clear_thinking_20251015' } : { type: 'clear_thinking_20251015', keep };
    const req = ok(exchange('messages', { model: 'm', max_tokens: 10, messages, context_management: { edits: [edit] } }, { output: 'ok' })).request!;
    return req.prompt.kind === 'chat' ? req.prompt.messages.filter((m) => m.reasoning_content !== undefined).map((m) => m.reasoning_content) : [];
  };
  assert.equal(kept('all'), ['r1', 'r2', 'r3']);
  assert.equal(kept(undefined), ['r3']);
  assert.equal(kept({ type: 'thinking_turns', value: 2 }), ['r2', 'r3']);
  assert.equal(kept({ type: 'thinking_turns', value: 0 }), []);
});

test('a tool loaded mid-conversation (tool_reference) is written where it is loaded: the prompt before it is unchanged', () => {
  const before = ok(exchange('messages', claudeCodeBody(firstTurn), { output: 'ok' }));
  const history = [
    ...firstTurn,
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'ToolSearch', input: { query: 'select:WebFetch' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'tool_reference', tool_name: 'WebFetch' }] }, { type: 'text', text: 'Tool loaded.', cache_control: { type: 'ephemeral' } }] },
  ];
  const after = ok(exchange('messages', claudeCodeBody(history, [bash, toolSearch, webFetch, placeholder]), { output: 'ok' }));
  const generationPrompt = tok.encode('<|im_assistant|>assistant<|im_middle|>', { special: true }).length;
  const prefix = before.prepared!.ids.slice(0, -generationPrompt);
  assert.equal(after.prepared!.ids.slice(0, prefix.length), prefix, 'the whole earlier prompt is a prefix of the next one');
  assert.match(after.prepared!.text, /<\|im_system\|>tool<\|im_middle\|>## Return of functions\.ToolSearch:0\nTool WebFetch is now available: \{"type":"function","function":\{"name":"WebFetch","description":"Fetch a URL","parameters":\{"type":"object","properties":\{"url":\{"type":"string"\}\}\}\}\}<\|im_end\|>/);
  assert.equal(after.prepared!.parser.tools?.map((t) => t.name), ['Bash', 'ToolSearch', 'WebFetch', 'DeferredToolPlaceholder'], 'calls to a loaded tool are read with its schema');
});

test('fields whose meaning cannot be honoured are refused by name', () => {
  const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }, /mcp_servers: remote MCP servers are not available/],
    [{ ...base, container: 'c1' }, /container: code execution containers/],
    [{ ...base, context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] } }, /context_management\.edits\[0\]\.type: "clear_tool_uses_20250919" is not supported/],
    [{ ...base, messages: [{ role: 'user', content: 'x', output_config: { format: { type: 'json_schema', schema: {} } } }] }, /messages\[0\]\.output_config\.format: structured output is not supported/],
    [{ ...base, thinking: { type: 'adaptive', display: 'full' } }, /thinking\.display: expected "summarized" or "omitted"/],
    [{ ...base, output_config: { effort: 'extreme' } }, /output_config\.effort: expected one of/],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'a', content: [{ type: 'tool_reference', tool_name: 'Nope' }] }] }] }, /messages\[0\]\.content\[0\]\.content\[0\]\.tool_name: "Nope" is not one of the declared tools/],
  ];
  for (const [body, message] of cases) {
    const ex = exchange('messages', body, { output: '' });
    assert.is(ex.status, 400, JSON.stringify(body));
    assert.match(JSON.parse(ex.body).error.message, message);
  }
  for (const extra of [{ metadata: { user_id: 'u' } }, { service_tier: 'auto' }, { inference_geo: 'us' }, { speed: 'fast' }, { mcp_servers: [] }]) ok(exchange('messages', { ...base, ...extra }, { output: 'ok' }));
});

test.run();

// The parser fed the way the engine will feed it: tiny-kimi's tokenizer encodes a Kimi output with
// its special tokens (each marker one id), StreamDecoder turns the ids back into text one id at a
// time, and each piece goes to the parser. The events must be those of the hand-written output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OutputParser } from '../../lib/protocol/outputParser.js';
import { THINK_TAGS } from '../../lib/protocol/reasoning.js';
import { loadTokenizer } from '../../lib/tokenizer/load.js';
import { StreamDecoder } from '../../lib/tokenizer/streamDecoder.js';
import { TINY_KIMI } from '../helpers.js';
import { normalize } from './splits.js';

const tok = loadTokenizer(TINY_KIMI);

function streamed(ids: number[]): string[] {
  const d = new StreamDecoder(tok);
  return [...ids.map((id) => d.push(id)), d.flush()];
}

test('Kimi output with reasoning, CJK arguments and two calls, decoded id by id', () => {
  const text =
    'Der Nutzer fragt nach dem Wetter in 東京.</think>Ich sehe nach.' +
    '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "東京", "note": "☀️ bitte"}<|tool_call_end|>' +
    '<|tool_call_begin|>functions.get_time:1<|tool_call_argument_begin|>{"tz": "Asia/Tokyo"}<|tool_call_end|><|tool_calls_section_end|>';
  const ids = tok.encode(text, { special: true });
  for (const marker of ['<|tool_calls_section_begin|>', '<|tool_call_begin|>', '<|tool_call_argument_begin|>', '<|tool_call_end|>', '<|tool_calls_section_end|>', '</think>']) {
    const id = tok.tokenToId(marker);
    assert.ok(id !== undefined && ids.includes(id), `${marker} is one token of the encoded output`);
  }
  const chunks = streamed(ids);
  assert.ok(chunks.some((c) => c === ''), 'some ids complete no character on their own (multi-byte CJK)');
  const p = new OutputParser({ toolFormat: 'kimi_k2', reasoning: THINK_TAGS, startInReasoning: true, tools: [{ name: 'get_weather' }, { name: 'get_time' }] });
  const events = normalize([...chunks.flatMap((c) => p.feed(c)), ...p.finish()]);
  assert.equal(events, [
    { type: 'reasoning', text: 'Der Nutzer fragt nach dem Wetter in 東京.' },
    { type: 'text', text: 'Ich sehe nach.' },
    { type: 'tool_call_start', index: 0, id: 'functions.get_weather:0', name: 'get_weather' },
    { type: 'tool_call_delta', index: 0, arguments: '{"city": "東京", "note": "☀️ bitte"}' },
    { type: 'tool_call_end', index: 0 },
    { type: 'tool_call_start', index: 1, id: 'functions.get_time:1', name: 'get_time' },
    { type: 'tool_call_delta', index: 1, arguments: '{"tz": "Asia/Tokyo"}' },
    { type: 'tool_call_end', index: 1 },
  ]);
  assert.equal(p.issues, []);
});

test.run();

// Chat template rendering: the Python/HF semantics templates rely on (tojson spacing, .get(),
// loop variables, raise_exception, special token variables, extra kwargs, template choice).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MlxkError } from '../../lib/io/errors.js';
import { ChatTemplate } from '../../lib/tokenizer/chatTemplate.js';

const render = (template: string, opts: Parameters<ChatTemplate['render']>[1] = {}, config: Record<string, unknown> = {}) =>
  ChatTemplate.fromText(template, 'tpl.jinja', config).render([{ role: 'user', content: 'hi' }], opts);

test('tojson: Python json.dumps spacing, non-ASCII kept, separators and indent', () => {
  const tools = [{ name: 'météo', args: { a: [1, 2.5, null, true], s: 'x"\n' } }];
  assert.is(render('{{ tools | tojson }}', { tools }), '[{"name": "météo", "args": {"a": [1, 2.5, null, true], "s": "x\\"\\n"}}]');
  assert.is(render("{{ tools | tojson(separators=(',', ':')) }}", { tools }), '[{"name":"météo","args":{"a":[1,2.5,null,true],"s":"x\\"\\n"}}]');
  assert.is(render('{{ tools[0].args.a | tojson(indent=2) }}', { tools }), '[\n  1,\n  2.5,\n  null,\n  true\n]');
});

test('dict .get(), is defined / is none, loop variables, namespace', () => {
  const t =
    "{% set ns = namespace(n=0) %}{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ m.get('name', 'anon') }}" +
    "{{ m.get('content') }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}" +
    '|{{ ns.n }}|{{ tools is none }}|{{ messages[0].missing is defined }}';
  const out = ChatTemplate.fromText(t, 'tpl').render(
    [
      { role: 'user', content: 'a' },
      { role: 'user', name: 'bob', content: 'b' },
    ],
    { addGenerationPrompt: false },
  );
  assert.is(out, '1/2anonaF2/2bobbL|2|true|false');
});

test('bos/eos and other special token strings come from tokenizer_config.json', () => {
  const config = { bos_token: '<s>', eos_token: { content: '</s>', lstrip: false }, pad_token: null, additional_special_tokens: ['<x>', { content: '<y>' }] };
  assert.is(render('{{ bos_token }}{{ eos_token }}{{ pad_token is defined }}{{ additional_special_tokens | join(",") }}', {}, config), '<s></s>false<x>,<y>');
});

test('extra kwargs: Kimi-K2.5 thinking and Qwen3 enable_thinking switches', () => {
  // The K2.5 generation prompt as kimi.md §4.4(c) quotes it.
  const k25 =
    '{%- if add_generation_prompt -%}\n  <|im_assistant|>assistant<|im_middle|>\n  {%- if thinking is defined and thinking is false -%}\n  <think></think>\n  {%- else -%}\n  <think>\n  {%- endif -%}\n{%- endif -%}';
  assert.is(render(k25), '<|im_assistant|>assistant<|im_middle|><think>');
  assert.is(render(k25, { extra: { thinking: false } }), '<|im_assistant|>assistant<|im_middle|><think></think>');
  assert.is(render(k25, { extra: { thinking: true } }), '<|im_assistant|>assistant<|im_middle|><think>');
  const qwen3 = "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}";
  assert.is(render(qwen3), '<|im_start|>assistant\n');
  assert.is(render(qwen3, { extra: { enable_thinking: false } }), '<|im_start|>assistant\n<think>\n\n</think>\n\n');
  assert.is(render(qwen3, { addGenerationPrompt: false }), '');
});

test('raise_exception and runtime failures are MlxkErrors naming the template', () => {
  const t = "{% if messages[0]['role'] != 'system' %}{{ raise_exception('Conversation must start with system') }}{% endif %}";
  try {
    render(t);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, MlxkError);
    assert.is((e as Error).message, 'tpl.jinja: chat template failed: Conversation must start with system');
  }
  assert.throws(() => ChatTemplate.fromText('{% if %}', 'bad.jinja'), /bad\.jinja: chat template does not parse/);
});

test.run();

// The model's Jinja chat template rendered with @huggingface/jinja the way transformers'
// apply_chat_template does: trim_blocks + lstrip_blocks, variables messages / tools /
// documents / add_generation_prompt plus the tokenizer's special token strings, then the
// caller's extra kwargs. Where templates come from (transformers' loading order):
// chat_template.jinja overrides tokenizer_config.json `chat_template` (a string, or a list of
// {name, template}); additional_chat_templates/NAME.jinja adds named ones.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { CheckpointError, MlxkError } from '../io/errors.js';
import { isObject, specialTokenText, type Spec } from './spec.js';
import type { ChatMessage, ChatTemplateOptions } from './types.js';

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

interface NamedTemplate {
  template: Template;
  where: string;
}

function parse(text: string, where: string): NamedTemplate {
  try {
    return { template: new Template(text), where };
  } catch (e) {
    throw new CheckpointError(where, `chat template does not parse (${(e as Error).message})`);
  }
}

/** Plain JSON data, as the template would see it in Python (undefined keys dropped). */
function asJson(value: unknown, what: string): unknown {
  try {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  } catch (e) {
    throw new MlxkError(`chat template input ${what} is not JSON data (${(e as Error).message})`);
  }
}

/** Kimi's tokenization_kimi.py deep_sort_dict: object keys sorted at every level. */
function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (isObject(value)) {
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(keys.map((k) => [k, sortKeysDeep(value[k])]));
  }
  return value;
}

export interface ChatTemplateSettings {
  /** The model sorts tool definitions before rendering (Kimi's tokenization_kimi.py does). */
  sortTools: boolean;
}

export class ChatTemplate {
  private readonly specialTokens: Record<string, unknown> = {};

  private constructor(
    private readonly templates: ReadonlyMap<string, NamedTemplate>,
    tokenizerConfig: Spec,
    private readonly settings: ChatTemplateSettings,
  ) {
    for (const key of SPECIAL_TOKEN_KEYS) {
      const text = specialTokenText(tokenizerConfig[key]);
      if (text !== undefined) this.specialTokens[key] = text;
    }
    const extra = tokenizerConfig.additional_special_tokens;
    if (Array.isArray(extra)) this.specialTokens.additional_special_tokens = extra.map(specialTokenText).filter((t) => t !== undefined);
  }

  /** One template given as text (where: the file it came from, for errors). */
  static fromText(text: string, where: string, tokenizerConfig: Spec = {}, settings: ChatTemplateSettings = { sortTools: false }): ChatTemplate {
    return new ChatTemplate(new Map([['default', parse(text, where)]]), tokenizerConfig, settings);
  }

  /** The templates of a model directory, or undefined when it has none. */
  static load(dir: string, tokenizerConfig: Spec, configPath: string, settings: ChatTemplateSettings): ChatTemplate | undefined {
    const found = new Map<string, NamedTemplate>();
    const raw = tokenizerConfig.chat_template;
    if (typeof raw === 'string') found.set('default', parse(raw, configPath));
    else if (Array.isArray(raw)) {
      raw.forEach((entry, i) => {
        if (!isObject(entry) || typeof entry.name !== 'string' || typeof entry.template !== 'string') {
          throw new CheckpointError(configPath, `chat_template[${i}] must be {"name": string, "template": string}`);
        }
        found.set(entry.name, parse(entry.template, `${configPath} (chat_template "${entry.name}")`));
      });
    } else if (raw !== undefined && raw !== null) {
      throw new CheckpointError(configPath, 'chat_template must be a string or a list of {name, template}');
    }
    const file = join(dir, 'chat_template.jinja');
    if (existsSync(file)) found.set('default', parse(readFileSync(file, 'utf8'), file));
    const more = join(dir, 'additional_chat_templates');
    if (existsSync(more)) {
      for (const f of readdirSync(more).filter((n) => n.endsWith('.jinja'))) {
        found.set(f.slice(0, -'.jinja'.length), parse(readFileSync(join(more, f), 'utf8'), join(more, f)));
      }
    }
    return found.size === 0 ? undefined : new ChatTemplate(found, tokenizerConfig, settings);
  }

  /** transformers' get_chat_template: the named one, else "tool_use" when tools are given, else "default". */
  private pick(opts: ChatTemplateOptions): NamedTemplate {
    const names = [...this.templates.keys()].join(', ');
    if (opts.templateName !== undefined) {
      const t = this.templates.get(opts.templateName);
      if (!t) throw new MlxkError(`chat template "${opts.templateName}" does not exist (this model has: ${names})`);
      return t;
    }
    if (opts.tools && this.templates.has('tool_use')) return this.templates.get('tool_use')!;
    const t = this.templates.get('default');
    if (!t) throw new MlxkError(`this model has no default chat template; pass a template name (one of: ${names})`);
    return t;
  }

  render(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    const chosen = this.pick(opts);
    let tools: unknown = asJson(opts.tools, 'tools') ?? null;
    if (tools !== null && this.settings.sortTools) tools = sortKeysDeep(tools);
    const context: Record<string, unknown> = {
      ...this.specialTokens,
      messages: asJson(messages, 'messages'),
      tools,
      documents: null,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      ...(asJson(opts.extra ?? {}, 'extra') as Record<string, unknown>),
    };
    try {
      return renderBounded(chosen.template, context);
    } catch (e) {
      throw new CheckpointError(chosen.where, `chat template failed: ${(e as Error).message}`);
    }
  }
}

/**
 * The elements all range() calls of one rendering may produce: templates loop over messages and
 * tools (bounded by the request), and range() is their only way to loop over a number, so this
 * bounds the work of a template such as {% for i in range(100000000) %} (nested loops included).
 */
export const RANGE_BUDGET = 1_000_000;

/** Template.render with @huggingface/jinja's globals, but a range() that draws on RANGE_BUDGET. */
function renderBounded(template: Template, context: Record<string, unknown>): string {
  let left = RANGE_BUDGET;
  const range = (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (!Number.isFinite(n) || n > left) throw new Error(`range() would make ${n} numbers; a rendering may make at most ${RANGE_BUDGET} in all`);
    left -= n;
    return Array.from({ length: n }, (_, i) => start + i * step);
  };
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false, true: true, none: null, False: false, True: true, None: null,
    raise_exception: (message: string) => {
      throw new Error(message);
    },
    range,
    strftime_now: strftimeNow,
  };
  for (const [k, v] of Object.entries({ ...globals, ...context })) env.set(k, v);
  return new Interpreter(env).run(template.parsed).value as string;
}

/** The strftime subset chat templates use (Llama-3's "%d %b %Y"), as @huggingface/jinja offers it. */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return format.replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y': return String(d.getFullYear());
      case '%m': return pad(d.getMonth() + 1);
      case '%d': return pad(d.getDate());
      case '%b': return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(d);
      case '%B': return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(d);
      case '%H': return pad(d.getHours());
      case '%M': return pad(d.getMinutes());
      default: return '%';
    }
  });
}

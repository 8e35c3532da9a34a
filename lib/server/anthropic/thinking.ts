// Anthropic reasoning controls → the request's thinking settings: `thinking` (enabled with a
// budget, adaptive, disabled; display summarized or omitted), `output_config.effort` (top level,
// or per turn on a message) as a reasoning budget, and the clear_thinking context edit. With
// display "omitted" the API returns thinking blocks whose text is empty and whose signature
// carries the reasoning for the next turn; this server does the same (carriedReasoning.ts).
import { invalidRequest } from '../errors.js';
import { effortOf, tighter } from '../effort.js';
import { at, isObj, object, optNumber, optString, reqString, type Obj } from '../fields.js';
import type { GenerationRequest } from '../types.js';

/** The effort of this turn: the last message that sets output_config.effort, else the top level. */
function effortLevel(b: Obj): { level: string; path: string } | undefined {
  const messages = Array.isArray(b.messages) ? b.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i];
    if (isObj(m) && isObj(m.output_config) && m.output_config.effort !== undefined && m.output_config.effort !== null) {
      const path = at(at(at('messages', i), 'output_config'), 'effort');
      return { level: reqString(m.output_config, 'effort', at(at('messages', i), 'output_config')), path };
    }
  }
  if (!isObj(b.output_config)) return undefined;
  const level = optString(b.output_config, 'effort', 'output_config');
  return level === undefined ? undefined : { level, path: 'output_config.effort' };
}

/**
 * enabled (budget_tokens) / adaptive → reasoning on; disabled → off; absent → the template's
 * default. The effort's budget caps the reasoning too (the tighter cap wins).
 */
export function thinkingConfig(b: Obj, maxTokens: number | undefined): GenerationRequest['thinking'] {
  const e = effortLevel(b);
  const effort = e === undefined ? undefined : effortOf(e.level, e.path);
  if (effort?.enabled === false) throw invalidRequest(e!.path, 'expected low, medium, high, xhigh or max');
  let out: NonNullable<GenerationRequest['thinking']> = {};
  if (b.thinking !== undefined && b.thinking !== null) {
    const t = object(b.thinking, 'thinking');
    const type = reqString(t, 'type', 'thinking');
    if (type === 'disabled') return { enabled: false };
    if (type === 'enabled') {
      const budget = optNumber(t, 'budget_tokens', 'thinking', { integer: true, min: 1024 });
      if (budget === undefined) throw invalidRequest('thinking.budget_tokens', 'is required when thinking is enabled');
      if (maxTokens !== undefined && budget >= maxTokens) throw invalidRequest('thinking.budget_tokens', `must be less than max_tokens (${maxTokens}), got ${budget}`);
      out = { enabled: true, budgetTokens: budget };
    } else if (type === 'adaptive') out = { enabled: true };
    else throw invalidRequest('thinking.type', `expected "enabled", "disabled" or "adaptive", got ${JSON.stringify(type)}`);
    const display = optString(t, 'display', 'thinking');
    if (display !== undefined && display !== 'summarized' && display !== 'omitted') throw invalidRequest('thinking.display', `expected "summarized" or "omitted", got ${JSON.stringify(display)}`);
    if (display === 'omitted') out.omitted = true;
  }
  const budget = tighter(out.budgetTokens, effort?.budgetTokens);
  if (budget !== undefined) out.budgetTokens = budget;
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * context_management.edits: clear_thinking_20251015 is applied (keep "all" or the last N turns
 * with thinking; default 1, as the API). Other edits need the API's server-side bookkeeping
 * (clear_tool_uses counts input tokens against a trigger before rendering) and are refused.
 */
export function thinkingTurnsToKeep(b: Obj): number {
  if (b.context_management === undefined || b.context_management === null) return Infinity;
  const cm = object(b.context_management, 'context_management');
  const edits = cm.edits === undefined || cm.edits === null ? [] : cm.edits;
  if (!Array.isArray(edits)) throw invalidRequest('context_management.edits', 'expected a list of edits');
  let keep = Infinity;
  edits.forEach((raw, i) => {
    const p = at('context_management.edits', i);
    const e = object(raw, p);
    const type = reqString(e, 'type', p);
    if (type !== 'clear_thinking_20251015') throw invalidRequest(at(p, 'type'), `"${type}" is not supported here; only "clear_thinking_20251015" is (this server keeps tool results as sent)`);
    const k = e.keep;
    if (k === undefined || k === null) keep = Math.min(keep, 1);
    else if (k === 'all') return;
    else {
      const ko = object(k, at(p, 'keep'));
      if (ko.type !== 'thinking_turns') throw invalidRequest(at(at(p, 'keep'), 'type'), `expected "thinking_turns", got ${JSON.stringify(ko.type)}`);
      keep = Math.min(keep, optNumber(ko, 'value', at(p, 'keep'), { integer: true, min: 0 }) ?? 1);
    }
  });
  return keep;
}

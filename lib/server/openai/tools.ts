// OpenAI `tools` / `tool_choice` / `parallel_tool_calls` → FunctionTool[] and ToolChoice.
import { invalidRequest } from '../errors.js';
import { at, describe, object, optBool, optArray, optString, reqString, schema, toolName, type Obj } from '../fields.js';
import type { FunctionTool, ToolChoice } from '../types.js';

export function openaiTools(b: Obj): FunctionTool[] {
  const list = optArray(b, 'tools', '') ?? [];
  const tools = list.map((raw, i): FunctionTool => {
    const p = at('tools', i);
    const t = object(raw, p);
    const type = reqString(t, 'type', p);
    if (type !== 'function') throw invalidRequest(at(p, 'type'), `"${type}" tools are not supported; expected "function"`);
    const fp = at(p, 'function');
    const fn = object(t.function, fp);
    const description = optString(fn, 'description', fp);
    return { name: toolName(fn.name, at(fp, 'name')), ...(description === undefined ? {} : { description }), parameters: schema(fn.parameters, at(fp, 'parameters')) };
  });
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    if (seen.has(t.name)) throw invalidRequest(at(at(at('tools', i), 'function'), 'name'), `"${t.name}" is declared twice`);
    seen.add(t.name);
  });
  return tools;
}

export function openaiToolChoice(b: Obj, tools: readonly FunctionTool[]): ToolChoice {
  const v = b.tool_choice;
  if (v === undefined || v === null) return 'auto';
  let choice: ToolChoice;
  if (typeof v === 'string') {
    if (v !== 'auto' && v !== 'none' && v !== 'required') throw invalidRequest('tool_choice', `expected "auto", "none", "required" or {"type": "function", ...}, got ${describe(v)}`);
    choice = v;
  } else {
    const o = object(v, 'tool_choice');
    const type = reqString(o, 'type', 'tool_choice');
    if (type !== 'function') throw invalidRequest('tool_choice.type', `"${type}" is not supported; expected "function" (or a string choice)`);
    const fn = object(o.function, 'tool_choice.function');
    const name = reqString(fn, 'name', 'tool_choice.function');
    if (!tools.some((t) => t.name === name)) throw invalidRequest('tool_choice.function.name', `"${name}" is not one of the declared tools`);
    choice = { name };
  }
  if (choice !== 'auto' && choice !== 'none' && tools.length === 0) throw invalidRequest('tool_choice', 'forces a tool call but no tools are declared');
  return choice;
}

export function parallelToolCalls(b: Obj): boolean {
  return optBool(b, 'parallel_tool_calls', '') ?? true;
}

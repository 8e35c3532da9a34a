// Reasoning effort as a token budget for the model's reasoning, shared by Anthropic's
// output_config.effort and OpenAI's reasoning.effort / reasoning_effort. A local model has no
// trained notion of effort; what the server can enforce is how long it may reason before the
// end-of-reasoning marker is written for it (lib/server/job.ts), so each level is a budget.
import { invalidRequest } from './errors.js';

/** Reasoning tokens per level; undefined: no cap. "none" turns reasoning off. */
const BUDGETS: Record<string, number | undefined> = {
  minimal: 512,
  low: 2048,
  medium: 8192,
  high: 32768,
  xhigh: undefined,
  max: undefined,
};

export const EFFORTS = ['none', ...Object.keys(BUDGETS)];

export interface Effort {
  /** false: reasoning off ("none"). */
  enabled: boolean;
  budgetTokens?: number;
}

export function effortOf(level: string, path: string): Effort {
  if (level === 'none') return { enabled: false };
  if (!(level in BUDGETS)) throw invalidRequest(path, `expected one of ${EFFORTS.join(', ')}, got ${JSON.stringify(level)}`);
  const budget = BUDGETS[level];
  return budget === undefined ? { enabled: true } : { enabled: true, budgetTokens: budget };
}

/** The smaller of two optional caps. */
export function tighter(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

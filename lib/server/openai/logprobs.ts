// Log-probabilities in OpenAI's two shapes: chat (one entry per token, with its bytes and the top
// alternatives) and legacy completions (parallel arrays plus text offsets).
import type { DescribeToken, GenerationStep } from '../types.js';
import type { CompletionLogprobs, TokenLogprob } from './wire.js';

export function chatLogprob(step: GenerationStep, describe: DescribeToken): TokenLogprob {
  const t = describe(step.tokenId);
  return {
    token: t.token,
    bytes: t.bytes,
    logprob: step.logprob ?? 0,
    top_logprobs: (step.topLogprobs ?? []).map((a) => {
      const d = describe(a.tokenId);
      return { token: d.token, bytes: d.bytes, logprob: a.logprob };
    }),
  };
}

/** Completions logprobs for some steps; `offset` is where the first step's text starts in the completion. */
export function completionLogprobs(steps: readonly GenerationStep[], describe: DescribeToken, offset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  for (const s of steps) {
    const token = describe(s.tokenId).token;
    out.tokens.push(token);
    out.token_logprobs.push(s.logprob ?? 0);
    out.top_logprobs.push(Object.fromEntries((s.topLogprobs ?? []).map((a) => [describe(a.tokenId).token, a.logprob])));
    out.text_offset.push(at);
    at += token.length;
  }
  return out;
}

// OpenAI usage: prompt tokens with the cached part in prompt_tokens_details (what agents read to see cache hits).
import type { Usage } from '../types.js';
import type { UsageObject } from './wire.js';

export function usageObject(u: Usage): UsageObject {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

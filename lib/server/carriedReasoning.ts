// Reasoning a client carries from one turn to the next without reading it: Anthropic's signature
// of a thinking block whose text is omitted, OpenAI's encrypted_content of a reasoning item. The
// hosted APIs encrypt it; a local server has nothing to hide from its own user, so it is the
// reasoning text, base64, behind a prefix that marks it as this server's.
const PREFIX = 'mlxk-reasoning.';

export function carryReasoning(reasoning: string): string {
  return PREFIX + Buffer.from(reasoning, 'utf8').toString('base64');
}

/** The reasoning carried (undefined: not one of ours, e.g. a hosted API's encrypted blob). */
export function carriedReasoning(token: string): string | undefined {
  if (!token.startsWith(PREFIX)) return undefined;
  return Buffer.from(token.slice(PREFIX.length), 'base64').toString('utf8');
}

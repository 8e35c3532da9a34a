// The Anthropic Messages objects this server sends (what @anthropic-ai/sdk's Message and
// RawMessageStreamEvent require; test/server checks them against those types). Fields this server
// has no use for are null, as the API sends them.

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

export interface TextBlock {
  type: 'text';
  text: string;
  citations: null;
}

export interface ThinkingBlock {
  type: 'thinking';
  thinking: string;
  /** Anthropic signs its reasoning; a local model's is unsigned. */
  signature: string;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
  caller: { type: 'direct' };
}

export type ContentBlock = TextBlock | ThinkingBlock | ToolUseBlock;

export interface UsageObject {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: null;
  inference_geo: null;
  output_tokens_details: null;
  server_tool_use: null;
  service_tier: 'standard';
  speed: null;
}

export interface MessageObject {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: ContentBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  stop_details: null;
  container: null;
  diagnostics: null;
  usage: UsageObject;
}

export type BlockDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }
  | { type: 'input_json_delta'; partial_json: string };

export type StreamEvent =
  | { type: 'message_start'; message: MessageObject }
  | { type: 'content_block_start'; index: number; content_block: ContentBlock }
  | { type: 'content_block_delta'; index: number; delta: BlockDelta }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta';
      delta: { stop_reason: StopReason; stop_sequence: string | null; stop_details: null; container: null };
      usage: {
        input_tokens: number;
        output_tokens: number;
        cache_creation_input_tokens: number;
        cache_read_input_tokens: number;
        output_tokens_details: null;
        server_tool_use: null;
      };
    }
  | { type: 'message_stop' }
  | { type: 'ping' };

export interface TokenCountObject {
  input_tokens: number;
}

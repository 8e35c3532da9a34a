// The OpenAI Responses objects this server sends (the subset of openai-node's Response and
// ResponseStreamEvent types it fills; test/server checks them against those types).

export interface OutputTextPart {
  type: 'output_text';
  text: string;
  annotations: never[];
}

export interface ReasoningTextPart {
  type: 'reasoning_text';
  text: string;
}

export interface MessageItem {
  type: 'message';
  id: string;
  role: 'assistant';
  status: ItemStatus;
  content: OutputTextPart[];
}

export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  /** This server writes no summaries: the reasoning itself is in `content`. */
  summary: never[];
  content: ReasoningTextPart[];
  status: ItemStatus;
  /** With include ["reasoning.encrypted_content"]: the reasoning, for the next turn (carriedReasoning.ts). */
  encrypted_content?: string;
}

export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  /** The namespace of a function declared inside a namespace tool. */
  namespace?: string;
  arguments: string;
  status: ItemStatus;
}

export type OutputItem = MessageItem | ReasoningItem | FunctionCallItem;
export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

export interface ResponsesUsageObject {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface FunctionToolObject {
  type: 'function';
  name: string;
  description: string | null;
  parameters: Record<string, unknown>;
  strict: boolean;
}

/** The request settings a response repeats. */
export interface ResponseEcho {
  instructions: string | null;
  metadata: Record<string, string> | null;
  parallel_tool_calls: boolean;
  temperature: number | null;
  top_p: number | null;
  tool_choice: 'auto' | 'none' | 'required' | { type: 'function'; name: string };
  tools: FunctionToolObject[];
  max_output_tokens: number | null;
  previous_response_id: string | null;
  reasoning: { effort: 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | null; summary: 'auto' | 'concise' | 'detailed' | null };
  store: boolean;
  text: { format: { type: 'text' }; verbosity: 'low' | 'medium' | 'high' | null };
  truncation: 'disabled';
}

export interface ResponseObject extends ResponseEcho {
  id: string;
  object: 'response';
  created_at: number;
  completed_at: number | null;
  model: string;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  output: OutputItem[];
  /** What the SDK computes as well: the output text joined. */
  output_text: string;
  error: { code: 'server_error' | 'invalid_prompt' | 'rate_limit_exceeded'; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  /** Absent until the response ends. */
  usage?: ResponsesUsageObject;
  service_tier: 'default';
  background: false;
}

interface Seq {
  sequence_number: number;
}

export type ResponseStreamEvent = Seq &
  (
    | { type: 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed'; response: ResponseObject }
    | { type: 'response.output_item.added' | 'response.output_item.done'; output_index: number; item: OutputItem }
    | { type: 'response.content_part.added' | 'response.content_part.done'; output_index: number; item_id: string; content_index: number; part: OutputTextPart | ReasoningTextPart }
    | { type: 'response.output_text.delta'; output_index: number; item_id: string; content_index: number; delta: string; logprobs: never[] }
    | { type: 'response.output_text.done'; output_index: number; item_id: string; content_index: number; text: string; logprobs: never[] }
    | { type: 'response.reasoning_text.delta'; output_index: number; item_id: string; content_index: number; delta: string }
    | { type: 'response.reasoning_text.done'; output_index: number; item_id: string; content_index: number; text: string }
    | { type: 'response.function_call_arguments.delta'; output_index: number; item_id: string; delta: string }
    | { type: 'response.function_call_arguments.done'; output_index: number; item_id: string; name: string; arguments: string }
  );

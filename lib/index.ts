// mlxk as a library for Node apps: load a model (MLX-format or Hugging Face float
// checkpoint) and generate or stream text. See README "Use from Node".
//
//   import { LanguageModel } from 'mlxk';
//   const lm = await LanguageModel.load('models/tiny-kimi');
//   const r = await lm.generate({ prompt: 'Hello' }, { maxTokens: 32, temperature: 0 });

export { LanguageModel, BUNDLED_MODEL } from './engine/languageModel.js';
export type { LoadOptions, PromptInput } from './engine/languageModel.js';
export { generate, generateStream } from './engine/generate.js';
export type { FinishReason, GenerateOptions, GenerationResult, GenerationStats, TokenDecoder, TokenEvent } from './engine/generate.js';
export { Sampler } from './engine/sampler.js';
export type { SamplingOptions, TokenLogprobs } from './engine/sampler.js';
export { Sequence } from './engine/sequence.js';
export { KvCache } from './engine/kvCache.js';
export { createOps, defaultBackend, BACKENDS } from './backend/index.js';
export type { BackendName, CreateOpsOptions } from './backend/index.js';
export type { Ops, Tensor, Weight } from './backend/ops.js';
export { loadModel } from './models/load.js';
export type { CausalLM, ModelInfo } from './models/model.js';
export { loadTokenizer, StreamDecoder } from './tokenizer/index.js';
export type { ChatMessage, Tokenizer } from './tokenizer/index.js';
export { MlxkError, CheckpointError } from './io/errors.js';
export { startServer } from './server/serve.js';
export type { RunningServer, ServeOptions } from './server/serve.js';

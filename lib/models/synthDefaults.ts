// Small default configs per model_type for `mlxk synth ARCH`, which flags
// then resize (--layers, --experts, --hidden, …). Values are tiny-model sized.
import type { JsonObject } from '../io/checkpoint.js';

const deepseek: JsonObject = {
  architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', torch_dtype: 'bfloat16',
  hidden_size: 256, intermediate_size: 768, moe_intermediate_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4,
  q_lora_rank: 96, kv_lora_rank: 64, qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 32, vocab_size: 4128,
  n_routed_experts: 16, n_shared_experts: 1, num_experts_per_tok: 4, first_k_dense_replace: 1, moe_layer_freq: 1,
  n_group: 1, topk_group: 1, norm_topk_prob: true, routed_scaling_factor: 2.827, scoring_func: 'sigmoid', topk_method: 'noaux_tc',
  rms_norm_eps: 1e-6, rope_theta: 50000.0, max_position_embeddings: 4096, tie_word_embeddings: false, bos_token_id: 4096, eos_token_id: 4098,
  rope_scaling: { type: 'yarn', factor: 4.0, original_max_position_embeddings: 512, beta_fast: 1.0, beta_slow: 1.0, mscale: 1.0, mscale_all_dim: 1.0 },
};

const llama: JsonObject = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', torch_dtype: 'bfloat16',
  hidden_size: 256, intermediate_size: 768, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 32,
  vocab_size: 4096, rms_norm_eps: 1e-5, rope_theta: 500000.0, max_position_embeddings: 4096, tie_word_embeddings: false,
};

const DEFAULTS: Record<string, JsonObject> = {
  deepseek_v3: deepseek,
  kimi_k2: { ...deepseek, model_type: 'kimi_k2' },
  kimi_k25: {
    architectures: ['KimiK25ForConditionalGeneration'], model_type: 'kimi_k25', torch_dtype: 'bfloat16',
    text_config: { ...deepseek, model_type: 'kimi_k2' },
    vision_config: {
      patch_size: 14, init_pos_emb_height: 8, init_pos_emb_width: 8, init_pos_emb_time: 4, merge_kernel_size: [2, 2],
      vt_hidden_size: 64, vt_intermediate_size: 128, vt_num_attention_heads: 4, vt_num_hidden_layers: 2, text_hidden_size: 256,
    },
  },
  llama,
  mistral: { ...llama, architectures: ['MistralForCausalLM'], model_type: 'mistral' },
  qwen3: { ...llama, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', rope_theta: 1000000.0, tie_word_embeddings: true },
  qwen3_moe: {
    ...llama, architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe', rope_theta: 1000000.0,
    num_experts: 16, num_experts_per_tok: 4, moe_intermediate_size: 256, decoder_sparse_step: 1, mlp_only_layers: [], norm_topk_prob: true,
  },
};

export function synthDefaultConfig(modelType: string): JsonObject | null {
  const d = DEFAULTS[modelType];
  return d ? structuredClone(d) : null;
}

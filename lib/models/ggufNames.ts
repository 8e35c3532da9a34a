// llama.cpp (GGUF) tensor names for our module paths, so published llama.cpp
// recipes (`--custom-q regex=type`, ik_llama.cpp) port over: their regexes are
// written against names like blk.7.ffn_down_exps.weight.
// Mapping after llama.cpp gguf-py/gguf/tensor_mapping.py (deepseek2, llama, qwen3, qwen3moe).

const SUFFIX: [RegExp, string][] = [
  [/self_attn\.q_a_proj$/, 'attn_q_a'],
  [/self_attn\.q_a_layernorm$/, 'attn_q_a_norm'],
  [/self_attn\.q_b_proj$/, 'attn_q_b'],
  [/self_attn\.q_proj$/, 'attn_q'],
  [/self_attn\.k_proj$/, 'attn_k'],
  [/self_attn\.v_proj$/, 'attn_v'],
  [/self_attn\.q_norm$/, 'attn_q_norm'],
  [/self_attn\.k_norm$/, 'attn_k_norm'],
  [/self_attn\.kv_a_proj_with_mqa$/, 'attn_kv_a_mqa'],
  [/self_attn\.kv_a_layernorm$/, 'attn_kv_a_norm'],
  [/self_attn\.kv_b_proj$/, 'attn_kv_b'],
  [/self_attn\.embed_q$/, 'attn_k_b'],
  [/self_attn\.unembed_out$/, 'attn_v_b'],
  [/self_attn\.o_proj$/, 'attn_output'],
  [/input_layernorm$/, 'attn_norm'],
  [/post_attention_layernorm$/, 'ffn_norm'],
  [/mlp\.gate$/, 'ffn_gate_inp'],
  [/mlp\.switch_mlp\.gate_proj$/, 'ffn_gate_exps'],
  [/mlp\.switch_mlp\.up_proj$/, 'ffn_up_exps'],
  [/mlp\.switch_mlp\.down_proj$/, 'ffn_down_exps'],
  [/mlp\.shared_experts\.gate_proj$/, 'ffn_gate_shexp'],
  [/mlp\.shared_experts\.up_proj$/, 'ffn_up_shexp'],
  [/mlp\.shared_experts\.down_proj$/, 'ffn_down_shexp'],
  [/mlp\.gate_proj$/, 'ffn_gate'],
  [/mlp\.up_proj$/, 'ffn_up'],
  [/mlp\.down_proj$/, 'ffn_down'],
];

/** GGUF name of a module's weight ("blk.3.ffn_down_exps.weight"), or null if it has none. */
export function ggufName(module: string): string | null {
  const path = module.replace(/^language_model\./, '');
  if (path === 'model.embed_tokens') return 'token_embd.weight';
  if (path === 'lm_head') return 'output.weight';
  if (path === 'model.norm') return 'output_norm.weight';
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(path);
  if (!m) return null;
  for (const [re, name] of SUFFIX) if (re.test(m[2]!)) return `blk.${m[1]}.${name}.weight`;
  return null;
}

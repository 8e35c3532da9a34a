#!/usr/bin/env python3
"""Make the reference fixtures under test/fixtures/ with Hugging Face transformers and tokenizers.

What it makes
  test/fixtures/models/<name>/   tiny random-weight checkpoints of the architectures mlxk implements:
      llama, qwen3, qwen3_moe, deepseek_v3, deepseek_v3_noqlora (MODELS below lists their configs).
      config.json, generation_config.json  as transformers' save_pretrained writes them
      model.safetensors   weights in BF16 with the names save_pretrained writes; the DeepSeek router's
                          e_score_correction_bias is F32, as in the real DeepSeek-V3/Kimi checkpoints
      golden.safetensors  logits for random token sequences and greedy continuations, computed in
                          float32 from the bf16-rounded weights (CPU, eager attention, no KV cache)
      golden.json         versions, what each golden tensor is, rope/norm/routing numbers, caveats
  test/fixtures/tokenizers/<style>/   byte-level BPE tokenizers (fixture_tokenizers.py):
      tokenizer.json, cases.json

How to run (needs torch, transformers, tokenizers, safetensors and the fixture_*.py modules beside
this file; a GPU is optional and only used to report how far CUDA float32 logits are from the CPU
goldens; the whole run takes about 15 s after imports):
  python3 tools/make_fixtures.py --out /tmp/fixtures --eval-text models/tiny-kimi/eval-A.txt \
      [--pack fixtures.tar.gz] [--only llama,qwen3]
  then copy /tmp/fixtures/{models,tokenizers} into test/fixtures/.

The committed fixtures were made with Python 3.12.3, torch 2.11.0+cu130, transformers 5.17.0,
tokenizers 0.23.2 and safetensors 0.8.0 on one NVIDIA H100 (each golden.json records its versions);
repeated runs give bit-identical model and golden files. test/fixtures/README.md describes them.
"""
import argparse
import json
import math
import os
import sys
import tarfile
import time
import traceback

import torch
import transformers
from safetensors.torch import save_file

from fixture_checkpoint import config_file_caveats, load_reference, router_bias_name, write_checkpoint
from fixture_probes import (capture_residuals, capture_routing, forward_logits, lora_norm_caveats, norm_eps_report,
                            rope_report)
from fixture_tokenizers import make_tokenizer_fixtures

SEQ_LENGTHS = [1, 5, 37]
GEN_PROMPT_LENGTHS = [6, 13]
GEN_NEW_TOKENS = 16
DEBUG_SEQ = 1  # seq1 (5 tokens) also gets the residual stream after every layer
ROUTING_SEQ = 2  # seq2 (37 tokens) also gets the experts chosen in every MoE layer

# Weight init (then every weight is rounded to bf16): matrices N(0, (gain/sqrt(fan_in))^2) so each
# projection roughly keeps the scale of its input; embeddings N(0, EMBED_STD^2); RMSNorm weights
# 1 + N(0, NORM_NOISE^2); e_score_correction_bias N(0, BIAS_STD^2) (negative values included).
GAIN = 1.0
EMBED_STD = 0.4
NORM_NOISE = 0.1
BIAS_STD = 0.1

COMMON = dict(vocab_size=512, hidden_size=64, num_attention_heads=4, hidden_act='silu',
              max_position_embeddings=256, bos_token_id=1, eos_token_id=2, attention_bias=False)

MODELS = {
    'llama': dict(seed=11, model_type='llama', arch='LlamaForCausalLM', config=dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, head_dim=16, intermediate_size=128,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False, mlp_bias=False,
        rope_scaling=dict(rope_type='llama3', factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64))),
    'qwen3': dict(seed=12, model_type='qwen3', arch='Qwen3ForCausalLM', config=dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, head_dim=32, intermediate_size=128,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False)),
    'qwen3_moe': dict(seed=13, model_type='qwen3_moe', arch='Qwen3MoeForCausalLM', config=dict(
        COMMON, num_hidden_layers=3, num_key_value_heads=2, head_dim=16, intermediate_size=96,
        moe_intermediate_size=32, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True,
        decoder_sparse_step=1, mlp_only_layers=[0], rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=False, use_sliding_window=False, output_router_logits=False)),
    'deepseek_v3': dict(seed=14, model_type='deepseek_v3', arch='DeepseekV3ForCausalLM', config=dict(
        COMMON, num_hidden_layers=3, num_key_value_heads=4, intermediate_size=96,
        moe_intermediate_size=32, n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=2,
        n_group=4, topk_group=2, first_k_dense_replace=1, q_lora_rank=32, kv_lora_rank=32,
        qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, routed_scaling_factor=2.5,
        scoring_func='sigmoid', topk_method='noaux_tc', norm_topk_prob=True, rms_norm_eps=1e-6,
        rope_theta=10000.0, tie_word_embeddings=False,
        rope_scaling=dict(rope_type='yarn', factor=4.0, original_max_position_embeddings=64,
                          beta_fast=32.0, beta_slow=1.0, mscale=0.707, mscale_all_dim=1.0))),
    # q_lora_rank null (plain q_proj). rms_norm_eps 1e-5 (as in Kimi K2.5) and a kv_a_proj whose
    # latent rows are scaled by 0.02 make the kv_a_layernorm eps visible in the logits.
    'deepseek_v3_noqlora': dict(seed=15, model_type='deepseek_v3', arch='DeepseekV3ForCausalLM',
        kv_latent_gain=0.02, config=dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=4, intermediate_size=96,
        moe_intermediate_size=32, n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=2,
        n_group=4, topk_group=2, first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=32,
        qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, routed_scaling_factor=2.5,
        scoring_func='sigmoid', topk_method='noaux_tc', norm_topk_prob=True, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=False,
        rope_scaling=dict(rope_type='yarn', factor=4.0, original_max_position_embeddings=64,
                          beta_fast=32.0, beta_slow=1.0, mscale=0.707, mscale_all_dim=1.0))),
}


def log(*parts):
    print(f'[{time.strftime("%H:%M:%S")}]', *parts, flush=True)


def versions():
    import safetensors
    import tokenizers
    v = dict(python=sys.version.split()[0], torch=torch.__version__, transformers=transformers.__version__,
             tokenizers=tokenizers.__version__, safetensors=safetensors.__version__)
    if torch.cuda.is_available():
        v['cuda'] = torch.version.cuda
        v['gpu'] = torch.cuda.get_device_name(0)
    return v


def strict_fp32():
    """TF32 off for CUDA matmuls and convolutions (torch >= 2.9 spells it fp32_precision = 'ieee')."""
    if hasattr(torch.backends, 'fp32_precision'):
        torch.backends.fp32_precision = 'ieee'
        torch.backends.cuda.matmul.fp32_precision = 'ieee'
        torch.backends.cudnn.fp32_precision = 'ieee'
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def init_weights(model, spec, gen):
    """Overwrite every parameter and the router bias buffer; returns the names it set."""
    cfg = model.config
    done = []
    tensors = dict(model.named_parameters())
    for name, buf in model.named_buffers():
        if router_bias_name(name):
            tensors[name] = buf
    with torch.no_grad():
        for name, t in tensors.items():
            shape = tuple(t.shape)
            if router_bias_name(name):
                value = torch.randn(shape, generator=gen) * BIAS_STD
            elif name.endswith('embed_tokens.weight'):
                value = torch.randn(shape, generator=gen) * EMBED_STD
            elif len(shape) == 1 and 'norm' in name:
                value = 1.0 + torch.randn(shape, generator=gen) * NORM_NOISE
            elif len(shape) >= 2:
                value = torch.randn(shape, generator=gen) * (GAIN / math.sqrt(shape[-1]))
                if name.endswith('kv_a_proj_with_mqa.weight') and spec.get('kv_latent_gain'):
                    value[: cfg.kv_lora_rank] *= spec['kv_latent_gain']
            else:
                raise ValueError(f'no init rule for parameter {name} {list(shape)}')
            if not router_bias_name(name):
                value = value.to(torch.bfloat16).to(torch.float32)
            t.copy_(value.to(t.dtype))
            done.append(name)
    return done


def greedy(model, prompt, steps):
    seq = prompt.clone()
    new, margins, step_logits = [], [], []
    for _ in range(steps):
        last = forward_logits(model, seq)[-1]
        top2 = last.topk(2)
        margins.append(float(top2.values[0] - top2.values[1]))
        nxt = int(top2.indices[0])
        new.append(nxt)
        step_logits.append(last)
        seq = torch.cat([seq, torch.tensor([nxt])])
    return torch.tensor(new), margins, torch.stack(step_logits)


def hf_generate(model, prompt, steps):
    """transformers' generate() with its KV cache, greedy, with EOS stopping switched off."""
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=model.config.bos_token_id, eos_token_id=None, pad_token_id=0, do_sample=False)
    with torch.no_grad():
        out = model.generate(input_ids=prompt[None], attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             max_new_tokens=steps, do_sample=False, use_cache=True,
                             return_dict_in_generate=True, output_logits=True)
    new = out.sequences[0, len(prompt):].cpu()
    logits = torch.stack([x[0].float().cpu() for x in out.logits]) if out.logits is not None else None
    return new, logits


def cuda_vs_cpu(model, golden):
    """How far CUDA float32 (TF32 off) logits are from the CPU goldens: the noise floor of fp32."""
    strict_fp32()
    model.to('cuda')
    try:
        return max(float((forward_logits(model, golden[f'seq{j}.input_ids'].long()) - golden[f'seq{j}.logits']).abs().max())
                   for j in range(len(SEQ_LENGTHS)))
    finally:
        model.to('cpu')


def attempt(what, fn, *args, fallback=None):
    """Run one probe; a failure is logged and recorded instead of losing the whole model's fixture."""
    try:
        return fn(*args)
    except Exception as e:
        traceback.print_exc()
        log(f'{what} failed: {type(e).__name__}: {e}')
        return fallback(f'{type(e).__name__}: {e}') if fallback else None


def config_summary(cfg, spec):
    keys = list(spec['config'].keys()) + ['rope_parameters', 'head_dim', 'qk_head_dim', 'dtype', 'torch_dtype']
    out = {}
    for k in keys:
        if hasattr(cfg, k):
            v = getattr(cfg, k)
            out[k] = str(v) if isinstance(v, torch.dtype) else v
    return out


def make_model(name, spec, root, tmp_root, vers):
    t0 = time.time()
    out_dir = os.path.join(root, 'models', name)
    tmp_dir = os.path.join(tmp_root, name)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(tmp_dir, exist_ok=True)
    cfg = transformers.AutoConfig.for_model(spec['model_type'], **spec['config'])
    cfg.architectures = [spec['arch']]
    torch.manual_seed(spec['seed'])
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    model.eval()
    gen = torch.Generator().manual_seed(spec['seed'])
    init_names = init_weights(model, spec, gen)
    ref_state = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
    bias_f32 = {k: v.detach().clone().float() for k, v in model.state_dict().items() if router_bias_name(k)}
    layout, weights = write_checkpoint(model, bias_f32, out_dir, tmp_dir, spec)
    del model
    log(name, f'saved {len(weights)} tensors ({layout})')

    model, loading_info = load_reference(out_dir)
    mismatched = [k for k, v in model.state_dict().items() if k in ref_state and not torch.equal(v.float(), ref_state[k])]
    missing = [k for k in ref_state if k not in model.state_dict()]
    if mismatched or missing:
        raise RuntimeError(f'reloaded weights differ from the saved ones: mismatched={mismatched[:5]} missing={missing[:5]}')
    vocab = model.config.vocab_size

    golden, tensor_doc, seq_doc = {}, {}, []
    for j, L in enumerate(SEQ_LENGTHS):
        g = torch.Generator().manual_seed(1000 * spec['seed'] + j)
        ids = torch.randint(0, vocab, (L,), generator=g)
        logits = forward_logits(model, ids)
        golden[f'seq{j}.input_ids'] = ids.to(torch.int32)
        golden[f'seq{j}.logits'] = logits
        seq_doc.append(dict(name=f'seq{j}', length=L, logits_std=float(logits.std()),
                            logits_abs_max=float(logits.abs().max())))
    tensor_doc['seq{j}.input_ids'] = 'I32 [L]: random token ids (torch.randint, seeded), no BOS; L = 1, 5, 37 for j = 0, 1, 2'
    tensor_doc['seq{j}.logits'] = 'F32 [L, vocab]: logits at every position, one forward pass, no KV cache'

    captured = attempt('residual capture', capture_residuals, model, golden[f'seq{DEBUG_SEQ}.input_ids'].long())
    if captured is not None:
        golden[f'seq{DEBUG_SEQ}.residual'], golden[f'seq{DEBUG_SEQ}.final_norm'] = captured
        tensor_doc[f'seq{DEBUG_SEQ}.residual'] = 'F32 [num_layers+1, L, hidden]: index 0 = embedding output, index i = output of decoder layer i-1 (the residual stream)'
        tensor_doc[f'seq{DEBUG_SEQ}.final_norm'] = 'F32 [L, hidden]: output of the final RMSNorm (input of lm_head)'

    routing = None
    if spec['model_type'] in ('qwen3_moe', 'deepseek_v3'):
        route_golden, routing = attempt('routing capture', capture_routing, model, spec['model_type'],
                                        golden[f'seq{ROUTING_SEQ}.input_ids'].long(), f'seq{ROUTING_SEQ}',
                                        fallback=lambda err: ({}, {'error': err}))
        golden.update(route_golden)
        if route_golden:
            tensor_doc[f'seq{ROUTING_SEQ}.moe{{layer}}.topk_ids'] = 'I32 [L, num_experts_per_tok]: experts HF chose for each token of seq2 in that MoE layer, sorted by expert id'
            tensor_doc[f'seq{ROUTING_SEQ}.moe{{layer}}.topk_weights'] = 'F32 [L, num_experts_per_tok]: the routing weights HF passed to its experts module with them (same order)'

    gen_doc = []
    for j, P in enumerate(GEN_PROMPT_LENGTHS):
        g = torch.Generator().manual_seed(1000 * spec['seed'] + 100 + j)
        prompt = torch.randint(0, vocab, (P,), generator=g)
        new, margins, step_logits = greedy(model, prompt, GEN_NEW_TOKENS)
        golden[f'gen{j}.prompt_ids'] = prompt.to(torch.int32)
        golden[f'gen{j}.new_ids'] = new.to(torch.int32)
        entry = dict(name=f'gen{j}', prompt_length=P, new_tokens=GEN_NEW_TOKENS,
                     min_top1_top2_margin=min(margins), new_ids=new.tolist())
        try:
            hf_new, hf_logits = hf_generate(model, prompt, GEN_NEW_TOKENS)
            entry['hf_generate_kv_cache_same_tokens'] = hf_new.tolist() == new.tolist()
            if hf_new.tolist() != new.tolist():
                entry['hf_generate_new_ids'] = hf_new.tolist()
            if hf_logits is not None and hf_logits.shape == step_logits.shape:
                entry['hf_generate_kv_cache_logits_max_abs_diff'] = float((hf_logits - step_logits).abs().max())
        except Exception as e:  # recorded, not fatal: the recompute goldens stand on their own
            entry['hf_generate_error'] = f'{type(e).__name__}: {e}'
        gen_doc.append(entry)
    tensor_doc['gen{j}.prompt_ids'] = 'I32 [P]: random prompt ids (seeded); P = 6, 13'
    tensor_doc['gen{j}.new_ids'] = f'I32 [{GEN_NEW_TOKENS}]: greedy continuation: argmax of the last position, full recompute without cache each step, no EOS stopping'

    numerics = {}
    if torch.cuda.is_available():
        numerics['cuda_fp32_tf32_off_vs_cpu_max_abs_diff'] = attempt('cuda check', cuda_vs_cpu, model, golden,
                                                                     fallback=lambda err: err)

    eps = attempt('norm eps report', norm_eps_report, model, fallback=lambda err: {'error': err})
    caveats = attempt('config.json check', config_file_caveats, out_dir, spec, weights,
                      fallback=lambda err: [f'config.json check failed: {err}'])
    if spec['model_type'] == 'deepseek_v3':
        caveats += attempt('q_a/kv_a norm eps check', lora_norm_caveats, model, eps, golden[f'seq{ROUTING_SEQ}.input_ids'].long(),
                           f'seq{ROUTING_SEQ}', numerics, fallback=lambda err: [f'q_a/kv_a norm eps check failed: {err}'])
    if model.config.tie_word_embeddings:
        caveats.append('tie_word_embeddings: model.safetensors has no lm_head.weight; logits use embed_tokens.weight')
    if spec.get('kv_latent_gain'):
        caveats.append(f'the first kv_lora_rank rows of every kv_a_proj_with_mqa.weight were scaled by {spec["kv_latent_gain"]} '
                       'so the latent fed to kv_a_layernorm is small and that norm\'s eps shows in the logits')

    info = dict(
        model=name, format=1, generated_by='tools/make_fixtures.py', versions=vers,
        reference='transformers AutoModelForCausalLM.from_pretrained(this folder, dtype=float32, attn_implementation="eager"), CPU, use_cache=False',
        device='goldens on the CPU in float32; the GPU (see versions) only for numerics.cuda_fp32_tf32_off_vs_cpu_max_abs_diff',
        architecture=spec['arch'], model_type=spec['model_type'], seed=spec['seed'],
        init=dict(rule='matrices N(0,(gain/sqrt(fan_in))^2); embed_tokens N(0,embed_std^2); RMSNorm weights 1+N(0,norm_noise^2); '
                       'e_score_correction_bias N(0,bias_std^2) kept in F32; every other tensor rounded to bf16',
                  gain=GAIN, embed_std=EMBED_STD, norm_noise=NORM_NOISE, bias_std=BIAS_STD,
                  kv_latent_gain=spec.get('kv_latent_gain'), initialized=len(init_names)),
        config_summary=config_summary(model.config, spec),
        rope=attempt('rope report', rope_report, model, fallback=lambda err: {'error': err}), norm_eps_layer0=eps,
        checkpoint=dict(file='model.safetensors', dtype='BF16, except *.mlp.gate.e_score_correction_bias F32',
                        expert_layout=layout, reload_loading_info=loading_info,
                        reload_matches_saved_weights_exactly=True, tensors=weights),
        sequences=seq_doc, generation=gen_doc, tensors=tensor_doc, routing=routing,
        numerics=numerics, caveats=caveats, seconds=round(time.time() - t0, 1))
    save_file({k: v.contiguous() for k, v in golden.items()}, os.path.join(out_dir, 'golden.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(out_dir, 'golden.json'), 'w') as f:
        json.dump(info, f, indent=1, default=str)
        f.write('\n')
    log(name, 'done', json.dumps(dict(gen=[(g['name'], g.get('hf_generate_kv_cache_same_tokens'), g['min_top1_top2_margin']) for g in gen_doc],
                                      numerics=numerics, caveats=caveats, routing=routing), default=str))


def dump_sources(path):
    """The transformers files the goldens depend on, for reading offline (not committed)."""
    base = os.path.dirname(transformers.__file__)
    rels = ['modeling_rope_utils.py', 'conversion_mapping.py', 'integrations/moe.py', 'configuration_utils.py']
    for m in ('llama', 'qwen3', 'qwen3_moe', 'deepseek_v3'):
        rels += [f'models/{m}/modeling_{m}.py', f'models/{m}/configuration_{m}.py']
    with tarfile.open(path, 'w:gz') as tar:
        for rel in rels:
            p = os.path.join(base, rel)
            if os.path.exists(p):
                tar.add(p, arcname=f'transformers/{rel}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='output root; models/ and tokenizers/ are made under it')
    ap.add_argument('--eval-text', required=True, help='text the tokenizers are trained on (models/tiny-kimi/eval-A.txt)')
    ap.add_argument('--only', default='', help='comma-separated subset of: ' + ','.join(list(MODELS) + ['tokenizers']))
    ap.add_argument('--pack', default='', help='also write a .tar.gz of models/ and tokenizers/ here')
    ap.add_argument('--sources', default='', help='also write a .tar.gz of the transformers sources used here')
    args = ap.parse_args()
    only = set(filter(None, args.only.split(',')))
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    strict_fp32()
    vers = versions()
    log('versions', json.dumps(vers))
    if args.sources:
        dump_sources(args.sources)
    tmp_root = os.path.join(args.out, '_save_pretrained')
    failed = []
    for name, spec in MODELS.items():
        if only and name not in only:
            continue
        log('model', name)
        try:
            make_model(name, spec, args.out, tmp_root, vers)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if not only or 'tokenizers' in only:
        log('tokenizers')
        try:
            make_tokenizer_fixtures(args.eval_text, os.path.join(args.out, 'tokenizers'), vers, log)
        except Exception:
            traceback.print_exc()
            failed.append('tokenizers')
    if args.pack:
        with tarfile.open(args.pack, 'w:gz') as tar:
            for sub in ('models', 'tokenizers'):
                if os.path.isdir(os.path.join(args.out, sub)):
                    tar.add(os.path.join(args.out, sub), arcname=sub)
    log('failed:', failed or 'none')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()

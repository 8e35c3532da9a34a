#!/usr/bin/env python3
"""Convert a bf16 DeepSeek-V3 / Kimi-K2 checkpoint (models/tiny-kimi, mlxk synth models) to GGUF without PyTorch.

llama.cpp's convert_hf_to_gguf.py needs torch (and transformers for the Kimi tokenizer); this does
the same for this architecture with gguf-py (pure Python + numpy) from the pinned llama.cpp tree:
the hyperparameters of conversion/deepseek.py DeepseekV2Model.set_gguf_parameters (and base.py's
rope / expert keys), experts stacked, kv_b_proj split into attn_k_b (transposed) / attn_v_b, and the
Kimi tiktoken vocabulary as GPT-2 BPE with merges recovered by rank (conversion/qwen.py bpe).

ik_llama.cpp reads the older MLA layout its own convert_hf_to_gguf.py (DeepseekV2Model) writes:
`--flavor ik` gives head_count_kv = heads, key/value lengths of a head, and attn_kv_b beside 2-D
attn_k_b / attn_v_b; ik rebuilds its MLA tensors from these at load.

  PYTHONPATH=$PEERS/src/mainline/gguf-py python3 tools/peers/convert_tiny_kimi.py MODEL_DIR OUT.gguf [--outtype f32|bf16] [--flavor mainline|ik]
"""
import argparse
import base64
import json
import re
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import gguf


def read_safetensors(model: Path) -> dict[str, Callable[[], np.ndarray]]:
    """Name → loader of that tensor as float32, memory-mapped from model.safetensors or the shards
    of model.safetensors.index.json: one tensor is in memory at a time, so a multi-GB source fits."""
    index = model / 'model.safetensors.index.json'
    files = sorted(set(json.loads(index.read_text())['weight_map'].values())) if index.exists() else ['model.safetensors']
    out: dict[str, Callable[[], np.ndarray]] = {}
    for file in files:
        path = model / file
        with open(path, 'rb') as f:
            n = struct.unpack('<Q', f.read(8))[0]
            header = json.loads(f.read(n))
        data = np.memmap(path, dtype=np.uint8, mode='r', offset=8 + n)
        for name, t in header.items():
            if name == '__metadata__':
                continue
            if t['dtype'] not in ('BF16', 'F32'):
                sys.exit(f'{path}: tensor {name}: dtype {t["dtype"]} is not handled (expected BF16 or F32)')
            out[name] = lambda t=t, data=data: _decode(data[t['data_offsets'][0]:t['data_offsets'][1]], t)
    return out


def _decode(raw: np.ndarray, t: dict) -> np.ndarray:
    if t['dtype'] == 'BF16':
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(t['shape'])
    return np.array(raw.view(np.float32)).reshape(t['shape'])


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map (as transformers' bytes_to_unicode)."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def bpe(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[1]):
                best = (i, r)
        if best is None or best[1] >= max_rank:
            return parts
        i = best[0]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]


def add_vocab(w: gguf.GGUFWriter, model: Path, cfg: dict) -> None:
    """The tokenizer of `model` (tiktoken.model + tokenizer_config.json), padded to cfg's vocab_size."""
    tk = json.loads((model / 'tokenizer_config.json').read_text())
    ranks: dict[bytes, int] = {}
    for line in (model / 'tiktoken.model').read_text().splitlines():
        if line:
            b64, rank = line.split()
            ranks[base64.b64decode(b64)] = int(rank)
    enc = bytes_to_unicode()
    to_str = lambda b: ''.join(enc[x] for x in b)
    merges = []
    for token, rank in ranks.items():
        if len(token) > 1:
            parts = bpe(ranks, token, rank)
            if len(parts) == 2:
                merges.append(f'{to_str(parts[0])} {to_str(parts[1])}')
    specials = {int(i): t['content'] for i, t in tk.get('added_tokens_decoder', {}).items()}
    specials.update({i: s for s, i in tk.get('special_tokens', {}).items()})
    by_id = {r: to_str(t) for t, r in ranks.items()}
    tokens, types = [], []
    for i in range(cfg['vocab_size']):
        if i in specials:
            tokens.append(specials[i]); types.append(gguf.TokenType.CONTROL)
        elif i in by_id:
            tokens.append(by_id[i]); types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f'[PAD{i}]'); types.append(gguf.TokenType.UNUSED)
    w.add_tokenizer_model('gpt2')
    w.add_tokenizer_pre('kimi-k2')
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg['bos_token_id'])
    w.add_eos_token_id(cfg['eos_token_id'])
    # Kimi's tokenizer adds no BOS to plain text (mlxk neither): the same tokens in both engines
    w.add_add_bos_token(False)
    if 'chat_template' in tk:
        w.add_chat_template(tk['chat_template'])


def add_hparams(w: gguf.GGUFWriter, cfg: dict, ftype: int, ik: bool) -> None:
    w.add_block_count(cfg['num_hidden_layers'])
    w.add_context_length(cfg['max_position_embeddings'])
    w.add_embedding_length(cfg['hidden_size'])
    w.add_feed_forward_length(cfg['intermediate_size'])
    w.add_head_count(cfg['num_attention_heads'])
    w.add_head_count_kv(cfg['num_attention_heads'] if ik else 1)  # mainline: MLA as MQA over the latent
    w.add_layer_norm_rms_eps(cfg['rms_norm_eps'])
    w.add_rope_freq_base(cfg['rope_theta'])
    rs = cfg.get('rope_scaling') or {}
    if rs.get('type', rs.get('rope_type')) == 'yarn':
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(rs['factor'])
        w.add_rope_scaling_orig_ctx_len(rs['original_max_position_embeddings'])
        if not ik:  # ik reads these from --yarn-beta-fast / --yarn-beta-slow only
            w.add_rope_scaling_yarn_beta_fast(rs['beta_fast'])
            w.add_rope_scaling_yarn_beta_slow(rs['beta_slow'])
        if 'mscale_all_dim' in rs:
            w.add_rope_scaling_yarn_log_mul(0.1 * rs['mscale_all_dim'])
    w.add_expert_count(cfg['n_routed_experts'])
    w.add_expert_used_count(cfg['num_experts_per_tok'])
    w.add_expert_group_count(cfg['n_group'])
    w.add_expert_group_used_count(cfg['topk_group'])
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID if cfg['scoring_func'] == 'sigmoid' else gguf.ExpertGatingFuncType.SOFTMAX)
    w.add_leading_dense_block_count(cfg['first_k_dense_replace'])
    w.add_vocab_size(cfg['vocab_size'])
    w.add_q_lora_rank(cfg['q_lora_rank'])
    w.add_kv_lora_rank(cfg['kv_lora_rank'])
    if ik:
        w.add_key_length(cfg['qk_nope_head_dim'] + cfg['qk_rope_head_dim'])
        w.add_value_length(cfg['v_head_dim'])
    else:
        w.add_key_length(cfg['kv_lora_rank'] + cfg['qk_rope_head_dim'])
        w.add_value_length(cfg['kv_lora_rank'])
        w.add_key_length_mla(cfg['qk_nope_head_dim'] + cfg['qk_rope_head_dim'])
        w.add_value_length_mla(cfg['v_head_dim'])
    w.add_expert_feed_forward_length(cfg['moe_intermediate_size'])
    w.add_expert_shared_count(cfg['n_shared_experts'])
    w.add_expert_weights_scale(cfg['routed_scaling_factor'])
    if cfg.get('norm_topk_prob'):
        w.add_expert_weights_norm(True)
    w.add_rope_dimension_count(cfg['qk_rope_head_dim'])
    w.add_file_type(ftype)


def hf_tensors(t: dict[str, Callable[[], np.ndarray]], cfg: dict, ik: bool):
    """(HF-style name, loader) in llama.cpp's layout: stacked experts, kv_b split."""
    E, H = cfg['n_routed_experts'], cfg['num_attention_heads']
    nope, vdim = cfg['qk_nope_head_dim'], cfg['v_head_dim']

    def kv_parts(load: Callable[[], np.ndarray], part: str) -> Callable[[], np.ndarray]:
        def go() -> np.ndarray:
            a = load()
            kv = a.reshape(H, nope + vdim, a.shape[-1])
            k_b, v_b = kv[:, :nope, :].transpose(0, 2, 1), kv[:, nope:, :]
            if ik:  # ik's converter: k_b / v_b flattened to 2-D
                k_b, v_b = k_b.reshape(-1, nope), v_b.reshape(-1, a.shape[-1])
            return np.ascontiguousarray(k_b if part == 'k' else v_b)
        return go

    for name, load in t.items():
        m = re.match(r'model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(\w+)\.weight$', name)
        if m:
            if m.group(2) == '0':
                stem = f'model.layers.{m.group(1)}.mlp.experts'
                parts = [t[f'{stem}.{x}.{m.group(3)}.weight'] for x in range(E)]
                yield f'{stem}.{m.group(3)}.weight', lambda parts=parts: np.stack([p() for p in parts])
            continue
        if name.endswith('kv_b_proj.weight'):
            if ik:  # ik's converter keeps kv_b beside k_b / v_b
                yield name, load
            yield name.replace('kv_b_proj', 'k_b_proj'), kv_parts(load, 'k')
            yield name.replace('kv_b_proj', 'v_b_proj'), kv_parts(load, 'v')
            continue
        # gguf-py maps the router bias as "e_score_correction" + ".bias" (as convert_hf_to_gguf renames it)
        yield name.replace('e_score_correction_bias', 'e_score_correction.bias'), load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('model', type=Path)
    ap.add_argument('out', type=Path)
    ap.add_argument('--outtype', choices=['f32', 'bf16'], default='f32')
    ap.add_argument('--flavor', choices=['mainline', 'ik'], default='mainline')
    ap.add_argument('--vocab-from', type=Path, help='take the tokenizer files from this model (mlxk synth models have none: use models/tiny-kimi)')
    args = ap.parse_args()
    cfg = json.loads((args.model / 'config.json').read_text())
    if cfg.get('model_type') not in ('kimi_k2', 'deepseek_v3'):
        sys.exit(f'{args.model}/config.json: model_type {cfg.get("model_type")!r} (this converter handles kimi_k2 / deepseek_v3)')
    arch = gguf.MODEL_ARCH.DEEPSEEK2
    w = gguf.GGUFWriter(str(args.out), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(args.model.name)
    ftype = gguf.LlamaFileType.ALL_F32 if args.outtype == 'f32' else gguf.LlamaFileType.MOSTLY_BF16
    ik = args.flavor == 'ik'
    add_hparams(w, cfg, ftype, ik)
    add_vocab(w, args.vocab_from or args.model, cfg)
    names = gguf.get_tensor_name_map(arch, cfg['num_hidden_layers'])

    def converted(load: Callable[[], np.ndarray]) -> np.ndarray:
        a = np.ascontiguousarray(load(), dtype=np.float32)
        # norms, biases and the router correction stay f32 (as convert_hf_to_gguf keeps 1-D tensors)
        return (a.view(np.uint32) >> 16).astype(np.uint16) if args.outtype == 'bf16' and a.ndim > 1 else a

    # Two passes so only one tensor is in memory: the tensor table first (each tensor made and
    # dropped), then the data in the same order.
    tensors = []
    for name, load in hf_tensors(read_safetensors(args.model), cfg, ik):
        gname = names.get_name(name, try_suffixes=('.weight', '.bias'))
        if gname is None:
            sys.exit(f'{name}: no GGUF name for this tensor')
        a = converted(load)
        raw = gguf.GGMLQuantizationType.BF16 if a.dtype == np.uint16 else None
        w.add_tensor_info(gname, a.shape, a.dtype, a.nbytes, raw_dtype=raw)
        tensors.append(load)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for load in tensors:
        w.write_tensor_data(converted(load))
    w.close()
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()

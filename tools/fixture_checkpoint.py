"""The checkpoint side of make_fixtures.py: write a model as a bf16 checkpoint laid out like the
real ones (per-expert tensors, F32 router bias), reload it the way the goldens are computed, and
note where the config.json transformers wrote differs from hub configs of the architecture."""
import json
import os

import torch
import transformers
from safetensors.torch import load_file, save_file


def router_bias_name(name):
    return name.endswith('e_score_correction_bias')


def unfuse_experts(tensors, cfg):
    """If save_pretrained kept transformers' fused expert tensors, split them into the per-expert
    names that real checkpoints use. Returns a note on what was found."""
    fused = [k for k in tensors if k.endswith('.experts.gate_up_proj') or k.endswith('.experts.down_proj')]
    if not fused:
        return 'per-expert (as written by save_pretrained)'
    hidden = cfg.hidden_size
    inter = cfg.moe_intermediate_size
    for key in fused:
        t = tensors.pop(key)
        prefix = key.rsplit('.', 1)[0]
        n = t.shape[0]
        for e in range(n):
            w = t[e]
            if key.endswith('gate_up_proj'):
                if tuple(w.shape) == (hidden, 2 * inter):
                    w = w.t()
                tensors[f'{prefix}.{e}.gate_proj.weight'] = w[:inter].contiguous().clone()
                tensors[f'{prefix}.{e}.up_proj.weight'] = w[inter:].contiguous().clone()
            else:
                if tuple(w.shape) == (inter, hidden):
                    w = w.t()
                tensors[f'{prefix}.{e}.down_proj.weight'] = w.contiguous().clone()
    return 'save_pretrained wrote fused experts; split into per-expert names by this script'


def write_checkpoint(model, bias_f32, out_dir, tmp_dir, spec):
    model.to(torch.bfloat16)
    model.save_pretrained(tmp_dir)
    files = sorted(f for f in os.listdir(tmp_dir) if f.endswith('.safetensors'))
    if files != ['model.safetensors']:
        raise RuntimeError(f'save_pretrained wrote {files}, expected one model.safetensors')
    tensors = load_file(os.path.join(tmp_dir, 'model.safetensors'))
    layout = unfuse_experts(tensors, model.config)
    for name in list(tensors):
        if router_bias_name(name):
            tensors[name] = bias_f32[name].clone().contiguous()
        elif tensors[name].dtype != torch.bfloat16:
            raise RuntimeError(f'{name} saved as {tensors[name].dtype}, expected bfloat16')
    missing_bias = set(bias_f32) - set(tensors)
    if missing_bias:
        raise RuntimeError(f'router biases not saved: {sorted(missing_bias)}')
    save_file(tensors, os.path.join(out_dir, 'model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(tmp_dir, 'config.json')) as f:
        config_text = f.read()
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        f.write(config_text)
    gc = transformers.GenerationConfig(bos_token_id=spec['config']['bos_token_id'],
                                       eos_token_id=spec['config']['eos_token_id'])
    gc.save_pretrained(out_dir)
    return layout, {k: [str(v.dtype).replace('torch.', ''), list(v.shape)] for k, v in sorted(tensors.items())}


def load_reference(out_dir):
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        out_dir, dtype=torch.float32, attn_implementation='eager', output_loading_info=True)
    model, info = loaded
    info = {k: sorted(str(x) for x in v) if isinstance(v, (list, set, tuple)) else str(v) for k, v in info.items()}
    if info.get('missing_keys') or info.get('unexpected_keys'):
        raise RuntimeError(f'{out_dir}: reload reported {info}')
    model.eval()
    return model, info


def config_file_caveats(out_dir, spec, weights):
    """Where the config.json that save_pretrained wrote differs from what was passed in, or from
    what real checkpoints of the architecture carry."""
    with open(os.path.join(out_dir, 'config.json')) as f:
        saved = json.load(f)
    notes = []
    absent = [k for k in spec['config'] if k not in saved]
    if absent:
        notes.append(f'config.json (transformers {transformers.__version__} save_pretrained) has no {absent}, '
                     'which were passed to the config class')
    if 'rope_parameters' in saved:
        notes.append('rope settings are written as rope_parameters, with rope_theta inside it; there is no '
                     'rope_scaling and no top-level rope_theta (real hub configs of this architecture use those)')
    if 'num_local_experts' in saved and 'num_experts' in spec['config']:
        notes.append('the expert count is written as num_local_experts; real Qwen3-MoE configs say num_experts')
    mtp = saved.get('num_nextn_predict_layers') or 0
    if mtp and not any(k.startswith(f'model.layers.{saved["num_hidden_layers"]}.') for k in weights):
        notes.append(f'num_nextn_predict_layers is {mtp} (the config default) but the checkpoint has no MTP layer; '
                     'transformers builds none')
    if spec['model_type'] == 'deepseek_v3' and saved.get('head_dim') == saved.get('qk_rope_head_dim'):
        notes.append(f'head_dim in config.json is qk_rope_head_dim ({saved["head_dim"]}); query/key heads are '
                     'qk_nope_head_dim + qk_rope_head_dim wide and value heads v_head_dim')
    return notes

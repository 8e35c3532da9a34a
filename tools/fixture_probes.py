"""Probes of a loaded transformers model for make_fixtures.py: forward passes, the residual stream,
the MoE routing transformers chose (checked against our own reading of the rule), and the rope and
RMSNorm numbers it built. Each returns plain tensors or JSON-able values."""
import torch
import transformers


def forward_logits(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids[None].to(model.device), use_cache=False)
    return out.logits[0].float().cpu()


def capture_residuals(model, ids):
    """Embedding output, each decoder layer's output and the final norm output, via forward hooks."""
    seen = {}
    hooks = []

    def keep(key):
        def hook(_m, _i, out):
            t = out[0] if isinstance(out, (tuple, list)) else out
            seen[key] = t[0].detach().float().cpu().clone()
        return hook
    inner = model.model
    hooks.append(inner.embed_tokens.register_forward_hook(keep('embed')))
    for i, layer in enumerate(inner.layers):
        hooks.append(layer.register_forward_hook(keep(f'layer{i}')))
    hooks.append(inner.norm.register_forward_hook(keep('final_norm')))
    try:
        forward_logits(model, ids)
    finally:
        for h in hooks:
            h.remove()
    stack = torch.stack([seen['embed']] + [seen[f'layer{i}'] for i in range(len(inner.layers))])
    return stack, seen['final_norm']


def independent_routing(model_type, cfg, h, gate_w, bias):
    """Our own reading of the routing rule, to check the captured HF choice and to measure what the
    fixture exercises (bias and group masks changing the choice)."""
    h = h.float()
    logits = h @ gate_w.float().t()
    k = cfg.num_experts_per_tok
    if model_type == 'qwen3_moe':
        probs = torch.softmax(logits, dim=-1)
        w, idx = probs.topk(k, dim=-1)
        if cfg.norm_topk_prob:
            w = w / w.sum(-1, keepdim=True)
        return dict(idx=idx, w=w)
    scores = torch.sigmoid(logits)
    n_exp = scores.shape[-1]

    def choose(choice, groups, fill):
        if groups and cfg.n_group > 1:
            per = n_exp // cfg.n_group
            group_scores = choice.view(-1, cfg.n_group, per).topk(2, dim=-1).values.sum(-1)
            keep = group_scores.topk(cfg.topk_group, dim=-1).indices
            mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter(1, keep, True)
            mask = mask.repeat_interleave(per, dim=1)
            choice = choice.masked_fill(~mask, fill)
        return choice.topk(k, dim=-1).indices

    idx = choose(scores + bias.float(), True, float('-inf'))
    w = scores.gather(1, idx)
    if cfg.norm_topk_prob:
        w = w / (w.sum(-1, keepdim=True) + 1e-20)
    w = w * cfg.routed_scaling_factor
    return dict(idx=idx, w=w,
                idx_zero_fill=choose(scores + bias.float(), True, 0.0),
                idx_no_bias=choose(scores.clone(), True, float('-inf')),
                idx_no_groups=choose(scores + bias.float(), False, float('-inf')))


def sort_by_expert(idx, w):
    order = idx.argsort(dim=-1)
    return idx.gather(1, order), w.gather(1, order)


def differing_tokens(a, b):
    return int((a.sort(-1).values != b.sort(-1).values).any(-1).sum())


def capture_routing(model, model_type, ids, prefix):
    """For each MoE layer: the gate's input and the (indices, weights) the experts module received."""
    gates, experts, hooks = {}, {}, []
    for i, layer in enumerate(model.model.layers):
        mlp = layer.mlp
        if not hasattr(mlp, 'gate') or not hasattr(mlp, 'experts'):
            continue

        def gate_hook(_m, args, _out, i=i):
            gates[i] = args[0].detach().reshape(-1, args[0].shape[-1]).float().cpu()

        def experts_hook(_m, args, kwargs, _out, i=i):
            vals = list(args) + [kwargs[k] for k in ('top_k_index', 'top_k_weights') if k in kwargs]
            if len(vals) >= 3:
                experts[i] = (vals[1].detach().cpu().long(), vals[2].detach().float().cpu())
        hooks.append(mlp.gate.register_forward_hook(gate_hook))
        if isinstance(mlp.experts, torch.nn.ModuleList):
            continue
        hooks.append(mlp.experts.register_forward_hook(experts_hook, with_kwargs=True))
    try:
        forward_logits(model, ids)
    finally:
        for h in hooks:
            h.remove()
    golden, report = {}, {}
    cfg = model.config
    for i, h in sorted(gates.items()):
        mlp = model.model.layers[i].mlp
        bias = getattr(mlp.gate, 'e_score_correction_bias', None)
        ours = independent_routing(model_type, cfg, h, mlp.gate.weight.detach().cpu(), bias.detach().cpu() if bias is not None else None)
        entry = {}
        if i in experts:
            hf_idx, hf_w = experts[i]
            entry['hf_vs_ours_tokens_with_different_experts'] = differing_tokens(hf_idx, ours['idx'])
            s_idx, s_w = sort_by_expert(hf_idx, hf_w)
            o_idx, o_w = sort_by_expert(ours['idx'], ours['w'])
            if entry['hf_vs_ours_tokens_with_different_experts'] == 0:
                entry['hf_vs_ours_weights_max_abs_diff'] = float((s_w - o_w).abs().max())
            golden[f'{prefix}.moe{i}.topk_ids'] = s_idx.to(torch.int32)
            golden[f'{prefix}.moe{i}.topk_weights'] = s_w.float()
        else:
            entry['hf_choice'] = 'not captured (experts module is not called with indices and weights)'
        if model_type == 'deepseek_v3':
            entry['tokens_where_bias_changes_choice'] = differing_tokens(ours['idx'], ours['idx_no_bias'])
            entry['tokens_where_group_limit_changes_choice'] = differing_tokens(ours['idx'], ours['idx_no_groups'])
            entry['tokens_where_masking_with_0_instead_of_neg_inf_changes_choice'] = differing_tokens(ours['idx'], ours['idx_zero_fill'])
        report[f'layer{i}'] = entry
    return golden, report


def rope_report(model):
    rot = getattr(model.model, 'rotary_emb', None)
    attn = model.model.layers[0].self_attn
    r = {'rope_parameters': getattr(model.config, 'rope_parameters', None),
         'rope_scaling_attr': getattr(model.config, 'rope_scaling', None),
         'softmax_scale': float(attn.scaling) if hasattr(attn, 'scaling') else None}
    if rot is not None:
        r['inv_freq'] = [float(x) for x in rot.inv_freq.float().cpu()]
        r['attention_scaling'] = float(getattr(rot, 'attention_scaling', 1.0))
        r['rope_type'] = getattr(rot, 'rope_type', None)
    if hasattr(model.config, 'rope_interleave'):
        r['rope_interleave'] = bool(model.config.rope_interleave)
    return r


def norm_eps_report(model):
    eps = {}
    for name, mod in model.model.layers[0].named_modules():
        for attr in ('variance_epsilon', 'eps'):
            if name and hasattr(mod, attr) and isinstance(getattr(mod, attr), float):
                eps[name] = getattr(mod, attr)
                break
    eps['model.norm'] = getattr(model.model.norm, 'variance_epsilon', getattr(model.model.norm, 'eps', None))
    return eps


def eps_sensitivity(model, ids, names, eps):
    """Max |logits change| when the named norms use `eps` instead of what transformers built."""
    mods = [m for n, m in model.named_modules() if n.split('.')[-1] in names]
    base = forward_logits(model, ids)
    saved = [m.variance_epsilon for m in mods]
    try:
        for m in mods:
            m.variance_epsilon = eps
        alt = forward_logits(model, ids)
    finally:
        for m, e in zip(mods, saved):
            m.variance_epsilon = e
    return float((base - alt).abs().max())


def lora_norm_caveats(model, eps, ids, prefix, numerics):
    """kimi.md 3.1: transformers may build q_a_layernorm/kv_a_layernorm with a fixed 1e-6 instead of
    config.rms_norm_eps. Record what it used and how much the other choice would move the logits."""
    cfg_eps = model.config.rms_norm_eps
    notes = []
    for n in ('self_attn.q_a_layernorm', 'self_attn.kv_a_layernorm'):
        if n not in eps:
            continue
        used = eps[n]
        alt = cfg_eps if used != cfg_eps else (1e-6 if cfg_eps != 1e-6 else None)
        short = n.split('.')[-1]
        note = f'{short}: transformers {transformers.__version__} uses eps {used} (config.rms_norm_eps = {cfg_eps})'
        if alt is None:
            note += '; both candidates are 1e-6 here, so this fixture cannot tell them apart'
        else:
            change = eps_sensitivity(model, ids, {short}, alt)
            numerics[f'{prefix}_logits_max_abs_change_if_{short}_used_eps_{alt}'] = change
            note += f'; using {alt} instead moves {prefix} logits by up to {change:.3g}'
        notes.append(note)
    return notes

#!/usr/bin/env python3
"""Float64 GPTQ written from the paper, the reference lib/quant/gptq.ts and native/src/gptq.cc are held to.

Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative
Pre-trained Transformers" (ICLR 2023), Algorithm 1: with H⁻¹ replaced by the upper Cholesky factor
of its inverse, quantize column j, divide its error by [H⁻¹]_jj and subtract that error times row j
of the factor from the columns not yet quantized. Written here unblocked (no lazy batches: the
paper shows those change only the memory traffic) and with numpy's inverse and Cholesky, so it
shares no arithmetic with the code under test beyond the group fit, which both must compute
identically (mlxk's `wmse` fit, lib/quant/wmse.ts, with the damped diag(H) of the group's columns
as the weights, on the error-updated columns; scale and bias chosen among bfloat16 values). Group parameters are fitted when a group's first column is reached;
with activation order (columns by descending diag(H)) every group's parameters are fitted first on
the unquantized weights ("static groups"), so each column keeps its group and the output stays
plain MLX affine data. Columns the calibration never reached (H_jj = 0) get the mean live
diagonal, then λ = damp·mean(diag H) is added to the diagonal.

Inputs come from a seeded integer generator that test/quant/gptqReference.test.ts repeats exactly
(mulberry32, values k/32768 for W and k/64 for X), so H = XᵀX is exact in any summation order.

    python3 tools/gptq_reference.py test/fixtures/gptq/reference.json
"""
import json
import sys

import numpy as np


def mulberry32(seed):
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def nxt():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    return nxt


def case_inputs(seed, rows, cols, tokens, dead):
    """W [rows, cols] and X [tokens, cols]: correlated neighbours, every 7th channel ×4, `dead` columns zero."""
    r = mulberry32(seed)
    w = np.array([(int(r() * 2001) - 1000) / 32768.0 for _ in range(rows * cols)]).reshape(rows, cols)
    u = np.array([int(r() * 257) - 128 for _ in range(tokens * cols)], dtype=np.float64).reshape(tokens, cols)
    x = u.copy()
    x[:, 1:] += u[:, :-1]
    x *= np.array([4.0 if j % 7 == 0 else 1.0 for j in range(cols)]) / 64.0
    for j in dead:
        x[:, j] = 0.0
    return w, x


def round_bf16(v):
    """double → float32 → bfloat16, round to nearest even (lib/io/dtype.ts roundBf16)."""
    b = np.array([v], dtype=np.float32).view(np.uint32)[0].item()
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return float(np.array([b & 0xFFFFFFFF], dtype=np.uint32).view(np.float32)[0])


def js_round(t):
    """JavaScript Math.round of a non-negative value (halves up)."""
    f = float(np.floor(t))
    return f + (1.0 if t - f >= 0.5 else 0.0)


def mse_fit(x, n_bins):
    """lib/quant/mse.ts fitGroup: 21 candidate grids over [min, max], least-squares refit each, keep the best."""
    mn, mx = min(x), max(x)
    if not mx > mn:
        return 0.0, mn
    sx = 0.0
    sxx = 0.0
    for v in x:
        sx += v
        sxx += v * v
    best_err = float('inf')
    best = ((mx - mn) / n_bins, mn)
    n = len(x)
    for k in range(-10, 11):
        steps = n_bins + k * 0.1
        if steps <= 0:
            continue
        inv = steps / (mx - mn)
        sq = 0.0
        sqq = 0.0
        sqx = 0.0
        for v in x:
            lv = min(js_round(inv * (v - mn)), n_bins)
            sq += lv
            sqq += lv * lv
            sqx += lv * v
        det = n * sqq - sq * sq
        if det <= 0:
            continue
        scale = (n * sqx - sq * sx) / det
        bias = (sqq * sx - sq * sqx) / det
        err = scale * scale * sqq + 2 * scale * bias * sq + n * bias * bias - 2 * scale * sqx - 2 * bias * sx + sxx
        if err < best_err:
            best_err = err
            best = (scale, bias)
    return best


def bf16_neighbour(r, up):
    """The bfloat16 value next to r toward +inf (up) or -inf (lib/quant/wmse.ts neighbour)."""
    u = np.array([r], dtype=np.float32).view(np.uint32)[0].item()
    if r == 0.0:
        u = 0x10000 if up else 0x80010000
    else:
        u = (u + 0x10000 if (r > 0) == up else u - 0x10000) & 0xFFFFFFFF
    return round_bf16(float(np.array([u], dtype=np.uint32).view(np.float32)[0]))


def bf16_bracket(v):
    r = round_bf16(v)
    return [r] if r == v or not np.isfinite(r) else [r, bf16_neighbour(r, v > r)]


def level(v, s, b, n_bins):
    return min(max(float(np.rint((v - b) / s)), 0.0), float(n_bins))


def solve(sw, swx, swxx, swq, swqq, swqx):
    det = sw * swqq - swq * swq
    if not det > 0:
        return None
    scale = (sw * swqx - swq * swx) / det
    bias = (swqq * swx - swq * swqx) / det
    err = scale * scale * swqq + 2 * scale * bias * swq + sw * bias * bias - 2 * scale * swqx - 2 * bias * swx + swxx
    return scale, bias, err


def weighted_fit(x, w, n_bins):
    """lib/quant/wmse.ts weightedFit: weighted least squares over mse's 21 grids, then assign → refit while it improves."""
    mn, mx = min(x), max(x)
    if not mx > mn:
        return None
    sw = swx = swxx = 0.0
    for v, wi in zip(x, w):
        sw += wi
        swx += wi * v
        swxx += wi * v * v
    best = None
    for k in range(-10, 11):
        inv = (n_bins + k * 0.1) / (mx - mn)
        swq = swqq = swqx = 0.0
        for v, wi in zip(x, w):
            lv = min(js_round(inv * (v - mn)), n_bins)
            swq += wi * lv
            swqq += wi * lv * lv
            swqx += wi * lv * v
        f = solve(sw, swx, swxx, swq, swqq, swqx)
        if f and (best is None or f[2] < best[2]):
            best = f
    if best is None:
        return None
    for _ in range(32):
        if best[0] == 0:
            break
        swq = swqq = swqx = 0.0
        for v, wi in zip(x, w):
            lv = level(v, best[0], best[1], n_bins)
            swq += wi * lv
            swqq += wi * lv * lv
            swqx += wi * lv * v
        f = solve(sw, swx, swxx, swq, swqq, swqx)
        if not f or not f[2] < best[2]:
            break
        best = f
    return best


def stored_error(x, w, s, b, n_bins):
    err = 0.0
    for v, wi in zip(x, w):
        d = s * level(v, s, b, n_bins) + b - v
        err += wi * d * d
    return err


def group_params(values, weights, n_bins):
    """lib/quant/wmse.ts fitGroupWeighted on the float32 values of the (error-updated) columns, as the C++ and JS do:
    the bfloat16 neighbours of the weighted fit and mse's rounded fit, scored by the weighted error of their nearest levels."""
    x = [float(np.float32(v)) for v in values]
    w = [float(v) for v in weights]
    eps = round_bf16(1e-7)
    scale, bias = mse_fit(x, n_bins)
    best = (round_bf16(scale) or eps, round_bf16(bias))
    fit = weighted_fit(x, w, n_bins)
    if fit is None:
        return best
    best_err = stored_error(x, w, best[0], best[1], n_bins)
    for s in bf16_bracket(fit[0]):
        for b in bf16_bracket(fit[1]):
            s = s or eps
            err = stored_error(x, w, s, b, n_bins)
            if err < best_err:
                best_err = err
                best = (s, b)
    return best


def damped(h, damp):
    h = h.copy()
    d = np.diag(h).copy()
    live = d > 0
    fill = sum(float(v) for v in d[live]) / max(int(live.sum()), 1) if live.any() else 1.0
    for j in np.nonzero(~live)[0]:
        h[j, j] = fill
    mean = 0.0
    for j in range(h.shape[0]):
        mean += h[j, j]
    lam = damp * (mean / h.shape[0])
    for j in range(h.shape[0]):
        h[j, j] += lam
    return h


def gptq(w, h, bits, gs, damp, act_order):
    rows, cols = w.shape
    n_bins = (1 << bits) - 1
    h = damped(h, damp)
    diag = np.diag(h).copy()
    perm = np.argsort(-np.diag(h), kind='stable') if act_order else np.arange(cols)
    groups = cols // gs
    scales = np.zeros((rows, groups))
    biases = np.zeros((rows, groups))
    if act_order:
        for r in range(rows):
            for g in range(groups):
                scales[r, g], biases[r, g] = group_params(w[r, g * gs:(g + 1) * gs], diag[g * gs:(g + 1) * gs], n_bins)
    hp = h[np.ix_(perm, perm)]
    u = np.linalg.cholesky(np.linalg.inv(hp)).T  # upper: [H⁻¹] = UᵀU
    wp = w[:, perm].copy()
    q = np.zeros((rows, cols), dtype=np.int64)
    for j in range(cols):
        col = perm[j]
        g = col // gs
        if not act_order and col % gs == 0:
            for r in range(rows):
                scales[r, g], biases[r, g] = group_params(wp[r, j:j + gs], diag[col:col + gs], n_bins)
        s, b = scales[:, g], biases[:, g]
        qj = np.clip(np.rint((wp[:, j] - b) / s), 0, n_bins)
        q[:, col] = qj
        err = (wp[:, j] - (s * qj + b)) / u[j, j]
        wp[:, j + 1:] -= np.outer(err, u[j, j + 1:])
    return q, scales, biases


def objective(w, h, q, scales, biases, gs):
    deq = scales.repeat(gs, axis=1) * q + biases.repeat(gs, axis=1)
    d = deq - w
    return float(np.einsum('ij,jk,ik->', d, h, d))


CASES = [
    # seed, rows, cols, tokens, bits, gs, act_order, dead columns
    (1, 8, 128, 256, 2, 32, False, []),
    (2, 8, 128, 256, 3, 64, False, []),
    (3, 8, 128, 256, 4, 128, False, []),
    (4, 8, 256, 384, 5, 64, True, []),
    (5, 8, 128, 256, 6, 32, True, []),
    (6, 8, 256, 384, 8, 128, True, []),
    (7, 8, 128, 256, 3, 32, True, []),
    (8, 8, 128, 96, 2, 64, False, [3, 40, 41, 100]),
    (9, 8, 128, 96, 4, 32, True, [0, 64, 127]),
]
DAMP = 0.01


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else 'test/fixtures/gptq/reference.json'
    cases = []
    for seed, rows, cols, tokens, bits, gs, act_order, dead in CASES:
        w, x = case_inputs(seed, rows, cols, tokens, dead)
        h = x.T @ x
        q, scales, biases = gptq(w, h, bits, gs, DAMP, act_order)
        cases.append({
            'seed': seed, 'rows': rows, 'cols': cols, 'tokens': tokens, 'bits': bits, 'groupSize': gs,
            'actOrder': act_order, 'dead': dead, 'damp': DAMP,
            'codes': q.reshape(-1).tolist(), 'scales': scales.reshape(-1).tolist(), 'biases': biases.reshape(-1).tolist(),
            'objective': objective(w, h, q, scales, biases, gs),
        })
    doc = {
        'generator': 'tools/gptq_reference.py',
        'command': 'python3 tools/gptq_reference.py test/fixtures/gptq/reference.json',
        'numpy': np.__version__,
        'cases': cases,
    }
    with open(out_path, 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
        f.write('\n')


if __name__ == '__main__':
    main()

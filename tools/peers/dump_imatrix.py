#!/usr/bin/env python3
"""Dump llama.cpp imatrix files as JSON, independently of mlxk: the GGUF one through gguf-py's
GGUFReader, the legacy .dat with numpy after common/imatrix-loader.cpp. Per entry: shape, counts,
the float64 sum of the values and the sha256 of their little-endian float32 bytes, first values.

  PYTHONPATH=$PEERS/src/mainline/gguf-py python3 tools/peers/dump_imatrix.py X.gguf X.dat > X.json
"""
import hashlib
import json
import sys

import numpy as np
import gguf


def summary(values: np.ndarray, counts: list[float]) -> dict:
    v = np.ascontiguousarray(values, dtype='<f4').ravel()
    return {'n': int(v.size), 'counts': counts, 'sum': float(v.astype(np.float64).sum()),
            'sha256': hashlib.sha256(v.tobytes()).hexdigest(), 'head': [float(x) for x in v[:4]]}


def dump_gguf(path: str) -> dict:
    r = gguf.GGUFReader(path)
    meta = {k: f.contents() for k, f in r.fields.items() if k.startswith(('general.', 'imatrix.'))}
    t = {x.name: x for x in r.tensors}
    entries = {}
    for name in sorted(t):
        if name.endswith('.in_sum2'):
            w = name[:-len('.in_sum2')]
            s, c = t[name], t[w + '.counts']
            entries[w] = {'ne': [int(n) for n in s.shape], **summary(s.data, [float(x) for x in np.ravel(c.data)])}
    return {'metadata': meta, 'entries': entries}


def dump_dat(path: str) -> dict:
    b = open(path, 'rb').read()
    pos = 0

    def i32() -> int:
        nonlocal pos
        v = int(np.frombuffer(b, '<i4', 1, pos)[0])
        pos += 4
        return v
    entries = {}
    for _ in range(i32()):
        n = i32()
        name = b[pos:pos + n].decode()
        pos += n
        ncall, nval = i32(), i32()
        vals = np.frombuffer(b, '<f4', nval, pos)
        pos += 4 * nval
        entries[name] = summary(vals, [float(ncall)])
    meta = {}
    if pos < len(b):
        meta['chunk_count'] = i32()
        n = i32()
        meta['dataset'] = b[pos:pos + n].decode()
    return {'metadata': meta, 'entries': entries}


print(json.dumps({p: dump_gguf(p) if p.endswith('.gguf') else dump_dat(p) for p in sys.argv[1:]}, indent=1))

#!/usr/bin/env python3
"""degrade.py SPEC IN OUT - the naive restoration A+ A x of each image of a
dm stream, to score beside dm-denoise --restore: for sr:K, the K x K block
means spread back over their blocks (nearest upsampling of the low-resolution
image); for mask:FILE.npy (1 = keep), the kept pixels and 0 (mid-gray)
elsewhere.  Standard library only (tests/ref/dmstream.py)."""
import os, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'ref'))
from dmstream import read_stream, write_stream


def read_npy_mask(path):
    with open(path, 'rb') as f:
        data = f.read()
    (hlen,) = struct.unpack_from('<H', data, 8)
    body = data[10 + hlen:]
    return struct.unpack('<%df' % (len(body) // 4), body)


spec, src, dst = sys.argv[1:4]
with open(src, 'rb') as f:
    meta, frames = read_stream(f)
out = []
for tags, tensors in frames:
    dtype, dims, v = tensors['x']
    N, C, H, W = dims
    y = list(v)
    if spec.startswith('sr:'):
        K = int(spec[3:])
        for n in range(N):
            for c in range(C):
                base = (n * C + c) * H * W
                for by in range(0, H, K):
                    for bx in range(0, W, K):
                        idx = [base + (by + i) * W + bx + j for i in range(K) for j in range(K)]
                        m = sum(v[i] for i in idx) / len(idx)
                        for i in idx:
                            y[i] = m
    elif spec.startswith('mask:'):
        keep = read_npy_mask(spec[5:])
        for n in range(N):
            for c in range(C):
                base = (n * C + c) * H * W
                for i in range(H * W):
                    if keep[i] <= 0:
                        y[base + i] = 0.0
    else:
        sys.exit('degrade.py: unknown SPEC %s (sr:K or mask:FILE.npy)' % spec)
    out.append((list(tags.items()), [('x', 'f32', dims, y)]))
with open(dst, 'wb') as f:
    write_stream(f, list(meta.items()), out)

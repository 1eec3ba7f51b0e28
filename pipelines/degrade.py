#!/usr/bin/env python3
"""degrade.py SPEC IN OUT - the naive restoration A+ A x of each image of a
dm stream, to score beside dm-denoise --restore: for sr:K, the K x K block
means spread back over their blocks (nearest upsampling of the low-resolution
image); for mask:FILE.npy (1 = keep), the kept pixels and 0 (mid-gray)
elsewhere.  For the degradations of DPS (lib/diffusion/degrade.h), written
out again here as an independent twin:
  degrade.py --measure lowlight:GAIN:GAMMA[:NOISE] IN OUT   y = A(x) + noise
  degrade.py --measure blur:SIGMA[:NOISE] IN OUT            (std NOISE, seed 1)
  degrade.py lowlight:GAIN:GAMMA Y OUT   the naive answer: the curve inverted
  degrade.py blur:SIGMA Y OUT            the naive answer: y itself
Values in the data range -1..1.  Standard library only
(tests/ref/dmstream.py)."""
import math, os, random, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'ref'))
from dmstream import read_stream, write_stream


def read_npy_mask(path):
    with open(path, 'rb') as f:
        data = f.read()
    (hlen,) = struct.unpack_from('<H', data, 8)
    body = data[10 + hlen:]
    return struct.unpack('<%df' % (len(body) // 4), body)


def lowlight(v, g, gamma):
    u = min(max((v + 1) / 2, 0.0), 1.0)
    return -1 + 2 * min(g * u ** gamma, 1.0)


def unlowlight(v, g, gamma):
    w = min(max((v + 1) / 2, 0.0), 1.0)
    return -1 + 2 * min((w / g) ** (1 / gamma), 1.0)


def blur(v, N, C, H, W, sigma):
    R = min(int(math.ceil(3 * sigma)), 64)
    k = [math.exp(-0.5 * j * j / (sigma * sigma)) for j in range(-R, R + 1)]
    z = sum(k)
    k = [a / z for a in k]
    out = list(v)
    for n in range(N * C):
        base = n * H * W
        img = v[base:base + H * W]
        tmp = [sum(k[j + R] * img[i * W + min(max(c + j, 0), W - 1)] for j in range(-R, R + 1))
               for i in range(H) for c in range(W)]
        for i in range(H):
            for c in range(W):
                out[base + i * W + c] = sum(k[j + R] * tmp[min(max(i + j, 0), H - 1) * W + c]
                                            for j in range(-R, R + 1))
    return out


measure = sys.argv[1] == '--measure'
spec, src, dst = sys.argv[1 + measure:4 + measure]
kind, *par = spec.split(':')
rng = random.Random(1)
with open(src, 'rb') as f:
    meta, frames = read_stream(f)
out = []
for tags, tensors in frames:
    dtype, dims, v = tensors['x']
    N, C, H, W = dims
    y = list(v)
    if kind in ('lowlight', 'blur'):
        p = [float(a) for a in par]
        if measure:
            noise = p[2 if kind == 'lowlight' else 1] if len(p) > (2 if kind == 'lowlight' else 1) else 0
            if kind == 'lowlight':
                y = [lowlight(a, p[0], p[1]) for a in v]
            else:
                y = blur(v, N, C, H, W, p[0])
            y = [a + noise * rng.gauss(0, 1) for a in y]
        elif kind == 'lowlight':
            y = [unlowlight(a, p[0], p[1]) for a in v]
    elif spec.startswith('sr:'):
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
        sys.exit('degrade.py: unknown SPEC %s (sr:K, mask:FILE.npy, lowlight:GAIN:GAMMA, blur:SIGMA)' % spec)
    out.append((list(tags.items()), [('x', 'f32', dims, y)]))
with open(dst, 'wb') as f:
    write_stream(f, list(meta.items()), out)

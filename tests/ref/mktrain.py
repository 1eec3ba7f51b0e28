#!/usr/bin/env python3
"""mktrain.py - a small deterministic training stream (x_t, t, target=eps, w)
as `dm-noise --train` writes one, for dm-train's tests without dm-noise:
linear beta schedule 1e-4..0.02, T=1000, eps-prediction.

  mktrain.py FRAMES N SHAPE [SEED] [--labels K]   e.g. mktrain.py 4 32 2
SHAPE is one sample (2, or 1x8x8); data are 8 Gaussians (2-D) or smooth
blobs (images).
"""
import math, os, random, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmstream import write_stream

args = [a for a in sys.argv[1:] if not a.startswith('--')]
K = int(sys.argv[sys.argv.index('--labels') + 1]) if '--labels' in sys.argv else 0
if K:
    args.remove(str(K))
frames, n, shape = int(args[0]), int(args[1]), [int(d) for d in args[2].split('x')]
rng = random.Random(int(args[3]) if len(args) > 3 else 1)
S = 1
for d in shape:
    S *= d
T = 1000
betas = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
abar, p = [], 1.0
for b in betas:
    p *= 1 - b
    abar.append(p)
out = []
for f in range(frames):
    x, t, tg, w, lab = [], [], [], [], []
    for i in range(n):
        if S == 2:
            k = rng.randrange(8)
            x0 = [math.cos(k * math.pi / 4) + 0.05 * rng.gauss(0, 1),
                  math.sin(k * math.pi / 4) + 0.05 * rng.gauss(0, 1)]
        else:
            k = rng.randrange(4)
            x0 = [math.sin(0.5 * j * (k + 1)) for j in range(S)]
        ti = rng.randrange(T)
        e = [rng.gauss(0, 1) for _ in range(S)]
        a = math.sqrt(abar[ti])
        s = math.sqrt(1 - abar[ti])
        x += [a * u + s * v for u, v in zip(x0, e)]
        tg += e
        t.append(float(ti))
        w.append(1.0)
        lab.append(k % K if K else 0)
    ts = [('x', 'f32', [n] + shape, x), ('t', 'f32', [n], t), ('target', 'f32', [n] + shape, tg),
          ('w', 'f32', [n], w)]
    if K:
        ts.append(('label', 'i32', [n], lab))
    out.append(([('index', str(f * n))], ts))
meta = [('tool', 'mktrain'), ('schedule', 'linear'), ('T', '1000'), ('beta_start', '0.0001'),
        ('beta_end', '0.02'), ('predict', 'eps'), ('zero_snr', '0')]
try:
    write_stream(sys.stdout.buffer, meta, out)
    sys.stdout.flush()
except BrokenPipeError:
    os._exit(0)

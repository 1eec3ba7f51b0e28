#!/usr/bin/env python3
"""mkclips.py - a small synthetic stream of clips for the video model's
tests, independently of libdm: each clip a Gaussian blob moving one pixel a
frame across a wrapping H x H canvas, values in [-1, 1] (range=-1:1).

  mkclips.py FRAMES N T H [SEED]    x of each frame: N x 1 x T x H x H
"""
import math, os, random, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'ref'))
from dmstream import write_stream

frames, N, T, H = (int(a) for a in sys.argv[1:5])
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
out = []
for f in range(frames):
    x = []
    for n in range(N):
        y0, x0 = rng.randrange(H), rng.randrange(H)
        vy, vx = rng.choice([-1, 0, 1]), rng.choice([-1, 1])
        for t in range(T):
            cy, cx = (y0 + vy * t) % H, (x0 + vx * t) % H
            for i in range(H):
                for j in range(H):
                    dy = min(abs(i - cy), H - abs(i - cy))
                    dx = min(abs(j - cx), H - abs(j - cx))
                    x.append(2 * math.exp(-(dy * dy + dx * dx) / 3.0) - 1)
    out.append(([('index', str(f * N))], [('x', 'f32', [N, 1, T, H, H], x)]))
try:
    write_stream(sys.stdout.buffer, [('tool', 'mkclips'), ('range', '-1:1')], out)
    sys.stdout.flush()
except BrokenPipeError:
    os._exit(0)

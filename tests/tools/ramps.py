#!/usr/bin/env python3
"""ramps.py OUT N SEED LABELS - N 1x8x8 images of horizontal ramps (-1 + 2 b j/7
across, b uniform in [0.3, 1]), rising left to right (class 0) or falling
(class 1), half each at random; LABELS 1 adds the tensor label and
classes=2.  A data set that a tiny model learns in a few hundred steps and
whose classes a classifier of dm's own (GroupNorm, global pooling) tells
apart.  Standard library only."""
import os, random, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'ref'))
from dmstream import write_stream

out, N, seed, labels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1'
r = random.Random(seed)
x, lab = [], []
for n in range(N):
    b = r.uniform(0.3, 1.0)
    c = r.randrange(2)
    x += [-1 + 2 * b * ((j if c == 0 else 7 - j) / 7.0) for i in range(8) for j in range(8)]
    lab.append(c)
F = 256
frames = [([], [('x', 'f32', [F, 1, 8, 8], x[f * F * 64:(f + 1) * F * 64])]
           + ([('label', 'i32', [F], lab[f * F:(f + 1) * F])] if labels else []))
          for f in range(N // F)]
with open(out, 'wb') as fh:
    write_stream(fh, ([('classes', '2')] if labels else []) + [('range', '-1:1')], frames)

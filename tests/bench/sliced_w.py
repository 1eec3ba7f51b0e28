#!/usr/bin/env python3
"""sliced_w.py A.csv B.csv [PROJECTIONS] - sliced 2-Wasserstein distance
between two point sets (rows of D numbers, equal counts): the RMS over
PROJECTIONS (default 200) fixed random unit directions of the 1-D W2
distance of the projections (sorted-sample matching).  Used to score toy
samples against fresh true samples, beside the floor of two true sets."""
import math
import random
import sys


def load(path):
    with open(path) as f:
        return [[float(v) for v in line.split(',')] for line in f if line.strip()]


def sliced_w2(a, b, nproj=200, seed=0):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    d = len(a[0])
    rng = random.Random(seed)
    total = 0.0
    for _ in range(nproj):
        u = [rng.gauss(0, 1) for _ in range(d)]
        norm = math.sqrt(sum(x * x for x in u))
        u = [x / norm for x in u]
        pa = sorted(sum(x * y for x, y in zip(p, u)) for p in a)
        pb = sorted(sum(x * y for x, y in zip(p, u)) for p in b)
        total += sum((x - y) ** 2 for x, y in zip(pa, pb)) / n
    return math.sqrt(total / nproj)


if __name__ == '__main__':
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    print('%.4f' % sliced_w2(load(sys.argv[1]), load(sys.argv[2]), k))

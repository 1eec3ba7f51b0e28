#!/usr/bin/env python3
"""bench_torch_sample.py MODEL BATCH THREADS STEPS - seconds that the PyTorch
twin takes to sample BATCH images by DDIM (eta 0) in STEPS steps of the linear
schedule of MODELS.md (beta 1e-4..0.02, T = 1000), under torch.no_grad(),
fresh weights (speed, not quality); one warm-up step first.  Prints
"seconds evaluations_per_s peak_rss_kb"."""
import os, resource, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import MLP, UNet

name, B, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
model, shape = (MLP(), (B, 2)) if name == 'mlp-2d' else (UNet(), (B, 1, 28, 28))
model.eval()
T = 1000
abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0)
ts = [int(round(i * (T - 1) / (steps - 1))) for i in range(steps)][::-1] if steps > 1 else [T - 1]


def ddim(x, ts):
    for i, t in enumerate(ts):
        a = abar[t].item()
        ap = abar[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
        eps = model(x, torch.full((x.shape[0],), float(t)))
        x0 = (x - (1 - a) ** 0.5 * eps) / a ** 0.5
        x = ap ** 0.5 * x0 + (1 - ap) ** 0.5 * eps
    return x


with torch.no_grad():
    ddim(torch.randn(shape), ts[:1])  # warm-up
    x = torch.randn(shape)
    t0 = time.perf_counter()
    ddim(x, ts)
    dt = time.perf_counter() - t0
print('%.4f %.1f %d' % (dt, B * len(ts) / dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))

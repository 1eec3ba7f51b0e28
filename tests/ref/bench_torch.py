#!/usr/bin/env python3
"""bench_torch.py MODEL[:bf16] BATCH THREADS STEPS - training steps per second
of the PyTorch twin in the reference setting of MODELS.md (eps-MSE, AdamW lr
2e-4, float32, CPU).  MODEL:bf16 casts the whole network, its inputs and
optimiser to bfloat16 (autocast fails on GroupNorm in Debian's torch 1.13).
Prints "steps_per_s peak_rss_kb"."""
import os, resource, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models
from models import MLP, UNet, UNet3D

name, B, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
name, _, prec = name.partition(':')
torch.set_num_threads(threads)
torch.manual_seed(0)
if name == 'mlp-2d':
    model, shape = MLP(), (B, 2)
elif name == 'unet3d-s':
    model, shape = UNet3D(), (B, 1, 8, 32, 32)
else:
    model, shape = UNet(), (B, 1, 28, 28)
dtype = torch.bfloat16 if prec == 'bf16' else torch.float32
model = model.to(dtype)
if prec == 'bf16':  # the sinusoidal embedding is made in float32: cast it too
    _embedding = models.timestep_embedding
    models.timestep_embedding = lambda t, dim: _embedding(t, dim).to(dtype)
opt = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.999), weight_decay=0)
x, eps = torch.randn(shape, dtype=dtype), torch.randn(shape, dtype=dtype)
t = torch.randint(0, 1000, (B,)).to(dtype)


def step():
    opt.zero_grad(set_to_none=True)
    loss = ((model(x, t) - eps) ** 2).mean()
    loss.backward()
    opt.step()


step()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = time.perf_counter() - t0
print('%.4f %d' % (steps / dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))

#!/usr/bin/env python3
"""train_twin.py - the PyTorch twin of `dm-train --model unet-s` on
Fashion-MNIST, trained the way dm trains it, then sampled with its own DDIM:
the reference beside which `make bench BENCH=quality` puts dm's FD.

  /usr/bin/python3 tests/ref/train_twin.py --steps N --samples S -o twin.npy
      [--batch 64] [--lr 1e-3] [--warmup 200] [--ema 0.999] [--clip-grad 1]
      [--ddim-steps 50] [--ddim diffusers|dm] [--threads 2] [--seed 0]
      [--data /usr/share/datasets/fashion-mnist] [--save twin.pt] [--log twin.csv]

Training, as dm-load fashion-mnist:train --batch 64 --shuffle --flip
--epochs 0 | dm-noise --train --schedule cosine | dm-train --model unet-s
(MODELS.md's unet-s, tests/ref/models.py; PyTorch's default init, as dm's):
  data     the IDX files of Debian's dataset-fashion-mnist, x/255*2-1 in
           [-1, 1]; a fresh permutation every epoch, each image flipped
           left-right with probability 1/2
  noise    eps-prediction, uniform integer t in 0..T-1, T = 1000, the cosine
           schedule of lib/diffusion/schedule.c: f(u) = cos^2(((u/T + s) /
           (1 + s)) pi/2), s = 0.008, beta_t = min(1 - f(t+1)/f(t), 0.999),
           alpha_bar_t = prod_{i<=t} (1 - beta_i) (float64, then float32);
           the network sees the integer t
  loss     MSE, mean over every element
  optim    AdamW lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0; linear
           warm-up lr (s+1)/W at 0-based step s < W = 200, then constant;
           the global gradient norm clipped to 1 (torch's clip_grad_norm_,
           the formula of dm_grad_clip)
  EMA      decay min(D, (1+s)/(10+s)) after optimiser step s (1-based),
           D = 0.999, starting from the initial weights
Sampling (the EMA weights), with --ddim:
  diffusers  (default) diffusers' DDIMScheduler defaults at eta 0: "leading"
             steps t = 980, 960, ..., 0 (T/S apart), x0 clipped to [-1, 1]
             and the network's eps kept, alpha_bar = 1 after the last step
  dm         dm-denoise --sampler ddim's defaults: start where
             lambda = ln(alpha/sigma) = -5.1 (floor to a step), then
             linspace to 0 rounded, x0 clipped and eps recomputed from the
             clipped x0
Writes the S samples as float32 .npy, S x 1 x 28 x 28 (dm-load reads it).
Prints one line per phase (steps, loss, seconds) on stderr."""
import argparse, gzip, math, os, sys, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import UNet

T = 1000


def cosine_alpha_bar(T=T, s=0.008, max_beta=0.999):
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
    ab, p = np.empty(T), 1.0
    for t in range(T):
        p *= 1.0 - min(1.0 - f(t + 1) / f(t), max_beta)
        ab[t] = p
    return ab


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)


def write_npy(path, a):
    a = np.ascontiguousarray(a, dtype='<f4')
    with open(path, 'wb') as f:
        np.save(f, a)


def ddim_grid(ab, S, kind):
    if kind == 'diffusers':
        return [t for t in range(0, T, T // S)][::-1][:S]
    # dm: the top is the t where logsnr = 2 * lambda_min, floored to a step
    lam = np.log(ab / (1 - ab))
    top = T - 1
    target = 2 * -5.1
    if lam[T - 1] < target:
        # logsnr is decreasing in t: the continuous t where it crosses, as
        # dm_schedule_t_from_logsnr interpolates between steps, floored
        i = int(np.searchsorted(-lam, -target))  # first step with lam < target
        lo = i - 1 + (lam[i - 1] - target) / (lam[i - 1] - lam[i]) if i > 0 else 0.0
        lo = math.floor(lo)
        if lo > 0 and S <= lo + 1:
            top = lo
    return [int(math.floor(top + (k / (S - 1) if S > 1 else 0) * (0 - top) + 0.5))
            for k in range(S)]


@torch.no_grad()
def ddim(model, x, ab, grid, kind):
    for i, t in enumerate(grid):
        a = float(ab[t])
        ap = float(ab[grid[i + 1]]) if i + 1 < len(grid) else 1.0
        eps = model(x, torch.full((x.shape[0],), float(t)))
        x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1)
        if kind == 'dm':
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps
    return x


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=3000)
    p.add_argument('--samples', type=int, default=1000)
    p.add_argument('-o', '--output', required=True, help='samples, .npy')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--warmup', type=int, default=200)
    p.add_argument('--ema', type=float, default=0.999)
    p.add_argument('--clip-grad', type=float, default=1.0)
    p.add_argument('--ddim-steps', type=int, default=50)
    p.add_argument('--ddim', choices=('diffusers', 'dm'), default='diffusers')
    p.add_argument('--sample-batch', type=int, default=250)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    p.add_argument('--save', help='also save the EMA state_dict here')
    p.add_argument('--log', help='CSV: step,loss,lr,grad_norm,seconds')
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    imgs = read_idx(os.path.join(a.data, 'train-images-idx3-ubyte.gz'))
    data = torch.from_numpy(imgs.astype(np.float32) / 255.0 * 2 - 1).reshape(-1, 1, 28, 28)
    N = data.shape[0]
    ab64 = cosine_alpha_bar()
    ab = torch.from_numpy(ab64).float()

    model = UNet()  # unet-s
    ema = UNet()
    ema.load_state_dict(model.state_dict())
    for q in ema.parameters():
        q.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0)
    params, eparams = list(model.parameters()), list(ema.parameters())
    log = open(a.log, 'w', buffering=1) if a.log else None  # line-buffered: progress
    if log:
        log.write('step,loss,lr,grad_norm,seconds\n')

    perm, pos = rng.permutation(N), 0
    t0 = time.perf_counter()
    loss_sum = 0.0
    for s in range(a.steps):
        idx = []
        while len(idx) < a.batch:
            if pos == N:
                perm, pos = rng.permutation(N), 0
            k = min(a.batch - len(idx), N - pos)
            idx.extend(perm[pos:pos + k])
            pos += k
        x0 = data[torch.from_numpy(np.asarray(idx))]
        flip = torch.from_numpy(rng.random(a.batch) < 0.5)
        x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        t = torch.randint(0, T, (a.batch,))
        eps = torch.randn_like(x0)
        abt = ab[t][:, None, None, None]
        xt = abt.sqrt() * x0 + (1 - abt).sqrt() * eps
        lr = a.lr * (s + 1) / a.warmup if s < a.warmup else a.lr
        for g in opt.param_groups:
            g['lr'] = lr
        opt.zero_grad(set_to_none=True)
        loss = ((model(xt, t.float()) - eps) ** 2).mean()
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, a.clip_grad if a.clip_grad > 0 else float('inf'))
        opt.step()
        step = s + 1
        d = min(a.ema, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for e, w in zip(eparams, params):
                e.lerp_(w, 1 - d)
        loss_sum += loss.item()
        if log:
            log.write('%d,%.6g,%.6g,%.6g,%.3f\n' % (step, loss.item(), lr, float(gn),
                                                     time.perf_counter() - t0))
    dt = time.perf_counter() - t0
    print('twin: trained unet-s %d steps, batch %d, mean loss %.4f, %.1f s'
          % (a.steps, a.batch, loss_sum / max(a.steps, 1), dt), file=sys.stderr)
    if log:
        log.close()
    if a.save:
        torch.save(ema.state_dict(), a.save)

    ema.eval()
    grid = ddim_grid(ab64, a.ddim_steps, a.ddim)
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(a.seed + 7)
    out = []
    for lo in range(0, a.samples, a.sample_batch):
        n = min(a.sample_batch, a.samples - lo)
        x = torch.randn((n, 1, 28, 28), generator=g)
        out.append(ddim(ema, x, ab64, grid, a.ddim))
    xs = torch.cat(out).numpy()
    write_npy(a.output, xs)
    print('twin: %d samples, DDIM-%d (%s grid %d..%d), %.1f s -> %s'
          % (a.samples, len(grid), a.ddim, grid[0], grid[-1], time.perf_counter() - t0,
             a.output), file=sys.stderr)


if __name__ == '__main__':
    main()

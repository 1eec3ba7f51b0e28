#!/usr/bin/env python3
"""parity.py DUMP - compare dm's network with its PyTorch twin on one batch.

DUMP is what `dm-train --dump-grads DUMP` writes: the model config (header),
the batch (x, t, target, w, label), dm's output and loss, and every
parameter with dm's gradient.  The twin (models.py) is built from the
config, loaded with the same weights by name, run on the same batch with
the same weighted MSE (a classifier: the weighted softmax cross-entropy on
its labels), and back-propagated.

Tolerance (float32 rounding through a network whose sums run in different
orders): for the output and every gradient tensor,
    max |dm - torch| <= RTOL * max |torch| + ATOL,  RTOL = 1e-4, ATOL = 1e-6,
and |loss_dm - loss_torch| <= 1e-5 * loss_torch.  Prints the worst ratio;
exit 1 on any failure.
"""
import os, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dmstream import read_stream
from models import from_config

RTOL, ATOL = 1e-4, 1e-6


def main(path):
    torch.set_num_threads(1)
    with open(path, 'rb') as f:
        meta, frames = read_stream(f)
    _, ts = frames[0]
    T = lambda name: torch.tensor(ts[name][2], dtype=torch.float32).reshape(ts[name][1])
    model = from_config(meta)
    names = dict(model.named_parameters())
    dm_names = {k[6:] for k in ts if k.startswith('param:')}
    if set(names) != dm_names:
        print('parameter names differ: only dm %s, only torch %s'
              % (sorted(dm_names - set(names))[:5], sorted(set(names) - dm_names)[:5]))
        return 1
    with torch.no_grad():
        for k, p in names.items():
            src = T('param:' + k)
            if src.shape != p.shape:
                print('shape of %s: dm %s torch %s' % (k, tuple(src.shape), tuple(p.shape)))
                return 1
            p.copy_(src)
    B = ts['x'][1][0]
    frames = [int(meta['sample_frames'])] if meta['model'] == 'unet3d' else []
    shape = [B] + ([int(meta['dim'])] if meta['model'] == 'mlp'
                   else [int(meta['in_ch'])] + frames + [int(meta['H']), int(meta['W'])])
    x, target = T('x').reshape(shape), T('target').reshape(shape)
    t, w = T('t'), T('w')
    label = torch.tensor(ts['label'][2], dtype=torch.long) if 'label' in ts else None
    model.train()
    out = model(x, t, label)
    if meta['model'] == 'classifier':  # weighted softmax cross-entropy on the labels
        pick = out.gather(1, label[:, None])[:, 0]
        loss = (w * (torch.logsumexp(out, dim=1) - pick)).mean()
        shape = list(out.shape)
    else:
        dims = tuple(range(1, out.dim()))
        loss = (w * ((out - target) ** 2).mean(dim=dims)).mean()
    loss.backward()
    worst, bad = 0.0, 0

    def cmp(name, a, b):
        nonlocal worst, bad
        err = (a - b).abs().max().item()
        tol = RTOL * b.abs().max().item() + ATOL
        worst = max(worst, err / tol)
        if err > tol:
            bad += 1
            print('MISMATCH %s: max diff %.3g > tol %.3g' % (name, err, tol))

    cmp('out', T('out').reshape(shape), out.detach())
    loss_dm = ts['loss'][2][0]
    if abs(loss_dm - loss.item()) > 1e-5 * abs(loss.item()):
        bad += 1
        print('MISMATCH loss: dm %.9g torch %.9g' % (loss_dm, loss.item()))
    for k, p in names.items():
        cmp('grad ' + k, T('grad:' + k), p.grad)
    print('%s %s: %d tensors, loss dm %.7g torch %.7g, worst error %.3f of tolerance'
          % ('ok' if not bad else 'FAIL', meta['model'], len(names) + 1, loss_dm, loss.item(),
             worst))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))

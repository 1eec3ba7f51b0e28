"""models.py - PyTorch twins of dm's networks, exactly as MODELS.md defines them
and with the same parameter names as dm's checkpoints (lib/models/unet.h, lib/models/mlp.h),
so that weights move between the two by name.  CPU, float32."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    """MODELS.md: half = dim/2, freq_i = exp(-ln(10000) i / (half-1)),
    [sin(t freq), cos(t freq)] (a trailing 0 for odd dim), in float32."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * i / (half - 1)) if half > 1 else torch.ones(1)
    a = t.float()[:, None] * freq[None, :]
    e = torch.cat([torch.sin(a), torch.cos(a)], dim=1)
    if dim % 2:
        e = F.pad(e, (0, 1))
    return e


class MLP(nn.Module):
    def __init__(self, dim=2, hidden=256, layers=3, temb=64, classes=0, t_scale=1.0):
        super().__init__()
        self.temb, self.classes, self.t_scale = temb, classes, t_scale
        sizes = [dim + temb] + [hidden] * layers + [dim]
        self.lin = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        if classes:
            self.label_emb = nn.Embedding(classes + 1, temb)

    def forward(self, x, t, label=None):
        e = timestep_embedding(t * self.t_scale, self.temb)
        if self.classes:
            if label is None:
                label = torch.full((x.shape[0],), self.classes, dtype=torch.long)
            e = e + self.label_emb(label)
        h = torch.cat([x, e], dim=1)
        for i, l in enumerate(self.lin):
            h = l(h)
            if i + 1 < len(self.lin):
                h = F.silu(h)
        return h


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-5)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x)
        q, k, v = (m(h).reshape(B, C, H * W) for m in (self.q, self.k, self.v))
        a = torch.softmax(torch.einsum('bci,bcj->bij', q, k) / math.sqrt(C), dim=-1)
        o = torch.einsum('bcj,bij->bci', v, a).reshape(B, C, H, W)
        return x + self.proj(o)


class Level(nn.Module):
    pass


class UNet(nn.Module):
    def __init__(self, in_ch=1, size=28, ch=32, ch_mult=(1, 2, 2), num_res_blocks=2,
                 attn_res=(7,), groups=8, dropout=0.0, classes=0, t_scale=1.0):
        super().__init__()
        self.ch, self.classes, self.t_scale = ch, classes, t_scale
        E = 4 * ch
        self.time = nn.Module()
        self.time.lin1 = nn.Linear(ch, E)
        self.time.lin2 = nn.Linear(E, E)
        if classes:
            self.label_emb = nn.Embedding(classes + 1, E)
        self.conv_in = nn.Conv2d(in_ch, ch, 3, padding=1)
        res, cur, skipc = size, ch, [ch]
        self.down = nn.ModuleList()
        for i, m in enumerate(ch_mult):
            lv, out = Level(), ch * m
            lv.res, lv.attn = nn.ModuleList(), nn.ModuleDict()
            for j in range(num_res_blocks):
                lv.res.append(ResBlock(cur, out, E, groups, dropout))
                cur = out
                if res in attn_res:
                    lv.attn[str(j)] = AttnBlock(cur, groups)
                skipc.append(cur)
            if i + 1 < len(ch_mult):
                lv.down = nn.Conv2d(cur, cur, 3, stride=2, padding=1)
                res //= 2
                skipc.append(cur)
            self.down.append(lv)
        self.mid = nn.Module()
        self.mid.res1 = ResBlock(cur, cur, E, groups, dropout)
        self.mid.attn = AttnBlock(cur, groups)
        self.mid.res2 = ResBlock(cur, cur, E, groups, dropout)
        ups = {}
        for i in reversed(range(len(ch_mult))):
            lv, out = Level(), ch * ch_mult[i]
            lv.res, lv.attn = nn.ModuleList(), nn.ModuleDict()
            for j in range(num_res_blocks + 1):
                lv.res.append(ResBlock(cur + skipc.pop(), out, E, groups, dropout))
                cur = out
                if res in attn_res:
                    lv.attn[str(j)] = AttnBlock(cur, groups)
            if i > 0:
                lv.up = nn.Conv2d(cur, cur, 3, padding=1)
                res *= 2
            ups[i] = lv
        self.up = nn.ModuleList(ups[i] for i in range(len(ch_mult)))
        self.norm_out = nn.GroupNorm(groups, cur, eps=1e-5)
        self.conv_out = nn.Conv2d(cur, in_ch, 3, padding=1)
        self.nlev = len(ch_mult)

    def forward(self, x, t, label=None):
        emb = self.time.lin2(F.silu(self.time.lin1(timestep_embedding(t * self.t_scale, self.ch))))
        if self.classes:
            if label is None:
                label = torch.full((x.shape[0],), self.classes, dtype=torch.long)
            emb = emb + self.label_emb(label)
        h = self.conv_in(x)
        skips = [h]
        for lv in self.down:
            for j, r in enumerate(lv.res):
                h = r(h, emb)
                if str(j) in lv.attn:
                    h = lv.attn[str(j)](h)
                skips.append(h)
            if hasattr(lv, 'down'):
                h = lv.down(h)
                skips.append(h)
        h = self.mid.res2(self.mid.attn(self.mid.res1(h, emb)), emb)
        for i in reversed(range(self.nlev)):
            lv = self.up[i]
            for j, r in enumerate(lv.res):
                h = r(torch.cat([h, skips.pop()], dim=1), emb)
                if str(j) in lv.attn:
                    h = lv.attn[str(j)](h)
            if hasattr(lv, 'up'):
                h = lv.up(F.interpolate(h, scale_factor=2, mode='nearest'))
        return self.conv_out(F.silu(self.norm_out(h)))


def from_config(meta):
    """Build the twin from a dm checkpoint header (dict of strings)."""
    classes = int(meta.get('classes', 0))
    ts = float(meta.get('t_scale', 1))
    if meta['model'] == 'mlp':
        return MLP(int(meta['dim']), int(meta['hidden']), int(meta['layers']), int(meta['temb']),
                   classes, ts)
    lst = lambda s: tuple(int(v) for v in s.split(',')) if s and s != 'none' else ()
    assert meta['H'] == meta['W'], 'the twin handles square inputs'
    return UNet(int(meta['in_ch']), int(meta['H']), int(meta['ch']), lst(meta['ch_mult']),
                int(meta['res_blocks']), lst(meta['attn']), int(meta['groups']),
                float(meta['dropout']), classes, ts)


if __name__ == '__main__':
    for name, m in [('mlp-2d', MLP()), ('unet-s', UNet()),
                    ('unet-m', UNet(3, 32, 64, (1, 2, 2, 2), 2, (16,), 32, 0.1))]:
        print(name, sum(p.numel() for p in m.parameters()))

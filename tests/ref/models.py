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

    def embed(self, t, label, B):
        emb = self.time.lin2(F.silu(self.time.lin1(timestep_embedding(t * self.t_scale, self.ch))))
        if self.classes:
            if label is None:
                label = torch.full((B,), self.classes, dtype=torch.long)
            emb = emb + self.label_emb(label)
        return emb

    def attend(self, lv, j, h):
        """The attention after ResBlock j of a level (UNet3D adds temporal)."""
        return lv.attn[str(j)](h) if str(j) in lv.attn else h

    def mid_attend(self, h):
        return self.mid.attn(h)

    def body(self, x, emb):
        h = self.conv_in(x)
        skips = [h]
        for lv in self.down:
            for j, r in enumerate(lv.res):
                h = self.attend(lv, j, r(h, emb))
                skips.append(h)
            if hasattr(lv, 'down'):
                h = lv.down(h)
                skips.append(h)
        h = self.mid.res2(self.mid_attend(self.mid.res1(h, emb)), emb)
        for i in reversed(range(self.nlev)):
            lv = self.up[i]
            for j, r in enumerate(lv.res):
                h = self.attend(lv, j, r(torch.cat([h, skips.pop()], dim=1), emb))
            if hasattr(lv, 'up'):
                h = lv.up(F.interpolate(h, scale_factor=2, mode='nearest'))
        return self.conv_out(F.silu(self.norm_out(h)))

    def forward(self, x, t, label=None):
        return self.body(x, self.embed(t, label, x.shape[0]))


class TAttnBlock(nn.Module):
    """Temporal attention (lib/nn/tattn.h): over the T frames at every
    position, with a learned bias per frame offset u - t."""

    def __init__(self, c, groups, T):
        super().__init__()
        self.T = T
        self.norm = nn.GroupNorm(groups, c, eps=1e-5)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        self.rel = nn.Parameter(torch.zeros(2 * T - 1))
        i = torch.arange(T)
        self.register_buffer('idx', i[None, :] - i[:, None] + T - 1, persistent=False)

    def forward(self, x):
        BT, C, H, W = x.shape
        T = self.T
        h = self.norm(x)
        q, k, v = (m(h).reshape(BT // T, T, C, H * W) for m in (self.q, self.k, self.v))
        lg = torch.einsum('btcs,bucs->bstu', q, k) / math.sqrt(C) + self.rel[self.idx]
        a = torch.softmax(lg, dim=-1)
        o = torch.einsum('bstu,bucs->btcs', a, v).reshape(BT, C, H, W)
        return x + self.proj(o)


class FrameConv3d(nn.Conv3d):
    """A 3x3x3 convolution (padding 1, stride 1 in time) on frame-major
    (B*T) x C x H x W activations, for unet3d's kt 3 (lib/nn/conv3d.h)."""

    def __init__(self, c2d, T):
        super().__init__(c2d.in_channels, c2d.out_channels, (3, 3, 3),
                         stride=(1,) + tuple(c2d.stride), padding=1)
        self.T = T

    def forward(self, x):
        BT, C, H, W = x.shape
        y = super().forward(x.reshape(BT // self.T, self.T, C, H, W).transpose(1, 2))
        return y.transpose(1, 2).reshape(BT, y.shape[1], y.shape[3], y.shape[4])


class UNet3D(UNet):
    """The space-time factorised U-Net (Ho et al. 2022; lib/models/unet3d.h):
    the UNet per frame, the clip's time embedding for each of its frames,
    temporal attention after every ResBlock's (spatial attention) and after
    the middle attention.  x: B x C x T x H x W."""

    def __init__(self, in_ch=1, T=8, size=32, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1,
                 attn_res=(8,), groups=8, dropout=0.0, classes=0, t_scale=1.0, kt=1):
        super().__init__(in_ch, size, ch, ch_mult, num_res_blocks, attn_res, groups, dropout,
                         classes, t_scale)
        self.T = T
        if kt == 3:  # every 3x3 convolution a 3x3x3 one
            for name, m in list(self.named_modules()):
                if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                    parent = self.get_submodule(name.rpartition('.')[0])
                    setattr(parent, name.rpartition('.')[2], FrameConv3d(m, T))
        for i, m in enumerate(ch_mult):
            for lv in (self.down[i], self.up[i]):
                lv.tattn = nn.ModuleList(TAttnBlock(ch * m, groups, T) for _ in lv.res)
        self.mid.tattn = TAttnBlock(ch * ch_mult[-1], groups, T)

    def attend(self, lv, j, h):
        return lv.tattn[j](super().attend(lv, j, h))

    def mid_attend(self, h):
        return self.mid.tattn(self.mid.attn(h))

    def forward(self, x, t, label=None):
        B, C, T, H, W = x.shape
        emb = self.embed(t, label, B).repeat_interleave(T, dim=0)
        h = self.body(x.transpose(1, 2).reshape(B * T, C, H, W), emb)
        return h.reshape(B, T, C, H, W).transpose(1, 2)


class Classifier(nn.Module):
    """dm's classifier (lib/models/classifier.h): 3x3 convolutions with
    GroupNorm + SiLU between them (the first of each level i >= 1 at stride
    2), norm_out + SiLU, a global average pool, feat (Linear + SiLU), head.
    With temb, every conv's output gets a per-channel bias temb.<l>(e),
    e = SiLU(time.lin1(sinusoid(t * t_scale))); else t is ignored.  It
    ignores label."""

    def __init__(self, in_ch=1, ch=32, ch_mult=(1, 2, 4), res_blocks=0, groups=8, feat=128,
                 outputs=10, temb=0, t_scale=1.0):
        super().__init__()
        self.ch, self.t_scale = ch, t_scale
        specs, cin = [], in_ch
        for i, m in enumerate(ch_mult):
            w = ch * m
            specs.append((cin, w, 1 if i == 0 else 2))
            specs += [(w, w, 1)] * res_blocks
            cin = w
        self.conv = nn.ModuleList(nn.Conv2d(a, b, 3, s, 1) for a, b, s in specs)
        self.norm = nn.ModuleDict({str(l): nn.GroupNorm(groups, specs[l][0])
                                   for l in range(1, len(specs))})
        self.norm_out = nn.GroupNorm(groups, cin)
        self.feat = nn.Linear(cin, feat)
        self.head = nn.Linear(feat, outputs)
        self.temb = None
        if temb:  # noise-conditioned: a per-channel bias from t after every conv
            self.time = nn.Module()
            self.time.lin1 = nn.Linear(ch, temb)
            self.temb = nn.ModuleList(nn.Linear(temb, b) for _, b, _ in specs)

    def forward(self, x, t=None, label=None):
        e = None
        if self.temb is not None:
            e = F.silu(self.time.lin1(timestep_embedding(t * self.t_scale, self.ch)))
        bias = lambda l, h: h if e is None else h + self.temb[l](e)[:, :, None, None]
        h = bias(0, self.conv[0](x))
        for l in range(1, len(self.conv)):
            h = bias(l, self.conv[l](F.silu(self.norm[str(l)](h))))
        h = F.silu(self.norm_out(h)).mean(dim=(2, 3))
        return self.head(F.silu(self.feat(h)))


def from_config(meta):
    """Build the twin from a dm checkpoint header (dict of strings)."""
    classes = int(meta.get('classes', 0))
    ts = float(meta.get('t_scale', 1))
    if meta['model'] == 'mlp':
        return MLP(int(meta['dim']), int(meta['hidden']), int(meta['layers']), int(meta['temb']),
                   classes, ts)
    lst = lambda s: tuple(int(v) for v in s.split(',')) if s and s != 'none' else ()
    assert meta['H'] == meta['W'], 'the twin handles square inputs'
    if meta['model'] == 'classifier':
        return Classifier(int(meta['in_ch']), int(meta['ch']), lst(meta['ch_mult']),
                          int(meta['res_blocks']), int(meta['groups']), int(meta['feat']),
                          int(meta['outputs']), int(meta.get('temb', 0)), ts)
    if meta['model'] == 'unet3d':
        return UNet3D(int(meta['in_ch']), int(meta['sample_frames']), int(meta['H']),
                      int(meta['ch']), lst(meta['ch_mult']), int(meta['res_blocks']), lst(meta['attn']),
                      int(meta['groups']), float(meta['dropout']), classes, ts,
                      int(meta.get('kt', 1)))
    return UNet(int(meta['in_ch']), int(meta['H']), int(meta['ch']), lst(meta['ch_mult']),
                int(meta['res_blocks']), lst(meta['attn']), int(meta['groups']),
                float(meta['dropout']), classes, ts)


if __name__ == '__main__':
    for name, m in [('mlp-2d', MLP()), ('unet-s', UNet()),
                    ('unet-m', UNet(3, 32, 64, (1, 2, 2, 2), 2, (16,), 32, 0.1)),
                    ('unet3d-s', UNet3D()), ('classifier-fmnist', Classifier())]:
        print(name, sum(p.numel() for p in m.parameters()))

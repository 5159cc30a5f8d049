"""E2FGVI's InpaintGenerator (Li et al., CVPR 2022), defined here so the official weights load without mmcv.

Parameter and buffer names and shapes equal the official ``model/e2fgvi_hq.py`` and ``model/e2fgvi.py``, so
``E2FGVI-HQ-CVPR22.pth`` / ``E2FGVI-CVPR22.pth`` load with ``strict=True``. The modulated deformable convolution
of the feature propagation is ``torchvision.ops.deform_conv2d`` (same offset layout as mmcv's: per deform group,
per kernel tap, (dy, dx)); the SPyNet inside is built empty, its weights come from the E2FGVI checkpoint.
Widths are parameters only so tests can build a small random-weight network with the same key names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from ..constants import IMAGENET_MEAN, IMAGENET_STD

_SS_KERNEL, _SS_STRIDE, _SS_PAD = (7, 7), (3, 3), (3, 3)  # soft split / composition ("t2t") parameters
DEFORM_GROUPS = 16
NONHQ_SIZE = (240, 432)  # (H, W) the non-HQ network is fixed to (its SoftComp bias is 60 x 108)
HQ_MULTIPLE = (60, 108)  # HQ inputs are padded to multiples of these


@dataclass(frozen=True)
class E2FGVIArch:
    """Architecture hyper-parameters; the defaults are the released networks'."""

    hq: bool = True
    base: int = 64  # encoder width: 64-64-128-256-384-... as released
    hidden: int = 512  # transformer width
    depths: int = 8
    heads: int = 4
    ffn: int = 1960  # fusion feed-forward width (a multiple of 7 x 7)
    window: tuple[int, int] = (5, 9)

    @property
    def channel(self) -> int:  # encoder output is channel // 2 (128 as released)
        return 4 * self.base


# ----------------------------------------------------------------------------- flow


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Sample ``x`` at pixel + flow (flow [n, h, w, 2] in pixels, x then y), bilinear, corners aligned.

    Always in float32: a bf16 grid snaps positions to half a pixel at x = 100 (2 px of image at 1/4 size).
    """
    n, _, h, w = x.shape
    f32 = torch.float32
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device, dtype=f32),
                            torch.arange(w, device=x.device, dtype=f32), indexing="ij")
    px = gx + flow[..., 0].to(f32)
    py = gy + flow[..., 1].to(f32)
    grid = torch.stack((2.0 * px / max(w - 1, 1) - 1.0, 2.0 * py / max(h - 1, 1) - 1.0), dim=3)
    with torch.autocast(device_type=x.device.type, enabled=False):
        out = F.grid_sample(x.to(f32), grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
    return out.to(x.dtype)


class _ConvAct(nn.Module):
    """mmcv ConvModule without norm: the checkpoint names the convolution ``conv``."""

    def __init__(self, cin: int, cout: int, relu: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 7, 1, 3)
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class _SpyLevel(nn.Module):
    def __init__(self):
        super().__init__()
        chans = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(*[_ConvAct(a, b, relu=i < 4) for i, (a, b) in enumerate(zip(chans, chans[1:]))])

    def forward(self, x):
        return self.basic_module(x)


class SPyNet(nn.Module):
    """Coarse-to-fine flow (6 levels); ``forward(ref, supp)`` is the flow from ref to supp in pixels."""

    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList([_SpyLevel() for _ in range(6)])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        n, _, h, w = ref.shape
        refs, supps = [(ref - self.mean) / self.std], [(supp - self.mean) / self.std]
        for _ in range(5):
            refs.append(F.avg_pool2d(refs[-1], 2, 2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], 2, 2, count_include_pad=False))
        refs, supps = refs[::-1], supps[::-1]
        flow = refs[0].new_zeros(n, 2, h // 32, w // 32)
        for level, (r, s) in enumerate(zip(refs, supps)):
            up = flow if level == 0 else F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(s, up.permute(0, 2, 3, 1), padding_mode="border")
            flow = up + self.basic_module[level](torch.cat([r, warped, up], 1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[2:]
        hu, wu = 32 * math.ceil(h / 32), 32 * math.ceil(w / 32)
        ref = F.interpolate(ref, size=(hu, wu), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(hu, wu), mode="bilinear", align_corners=False)
        flow = F.interpolate(self._flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        return torch.stack((flow[:, 0] * (w / wu), flow[:, 1] * (h / hu)), dim=1)


# ----------------------------------------------------------------------------- encoder / decoder


class Encoder(nn.Module):
    """Strided convs, then four group convs that each see the stride-4 feature again (x0)."""

    groups = (1, 2, 4, 8, 1)

    def __init__(self, base: int = 64):
        super().__init__()
        b = base
        x0 = 4 * b
        specs = [(3, b, 2, 1), (b, b, 1, 1), (b, 2 * b, 2, 1), (2 * b, 4 * b, 1, 1), (4 * b, 6 * b, 1, 1),
                 (x0 + 6 * b, 8 * b, 1, 2), (x0 + 8 * b, 6 * b, 1, 4), (x0 + 6 * b, 4 * b, 1, 8), (x0 + 4 * b, 2 * b, 1, 1)]
        layers: list[nn.Module] = []
        for cin, cout, stride, g in specs:
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, groups=g), nn.LeakyReLU(0.2, inplace=True)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        bt = x.shape[0]
        out, x0 = x, x
        for i, layer in enumerate(self.layers):
            if i == 8:
                x0 = out
            if i > 8 and i % 2 == 0:
                g = self.groups[(i - 8) // 2]
                h, w = x0.shape[2:]
                out = torch.cat([x0.view(bt, g, -1, h, w), out.view(bt, g, -1, h, w)], 2).view(bt, -1, h, w)
            out = layer(out)
        return out


class _UpConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


def _decoder(c: int, b: int) -> nn.Sequential:
    return nn.Sequential(
        _UpConv(c, 2 * b), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(2 * b, b, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
        _UpConv(b, b), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(b, 3, 3, 1, 1),
    )


# ----------------------------------------------------------------------------- feature propagation


class SecondOrderDeformableAlignment(nn.Module):
    """BasicVSR++ alignment: offsets = flow + bounded residue, modulated by a learned mask."""

    def __init__(self, cin: int, cout: int, deform_groups: int = DEFORM_GROUPS, max_residue: float = 10.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.max_residue = max_residue
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * cout + 4, cout, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(cout, 27 * deform_groups, 3, 1, 1),
        )
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, x, extra, flow_1, flow_2):
        o1, o2, mask = torch.chunk(self.conv_offset(torch.cat([extra, flow_1, flow_2], 1)), 3, dim=1)
        off_1, off_2 = torch.chunk(self.max_residue * torch.tanh(torch.cat((o1, o2), 1)), 2, dim=1)
        off_1 = off_1 + flow_1.flip(1).repeat(1, off_1.shape[1] // 2, 1, 1)  # flow is (x, y); offsets are (y, x)
        off_2 = off_2 + flow_2.flip(1).repeat(1, off_2.shape[1] // 2, 1, 1)
        offset = torch.cat([off_1, off_2], 1)
        # float32 always: torchvision has no bf16 CPU kernel, and its CUDA autocast rule upcasts anyway
        f32 = torch.float32
        out = deform_conv2d(x.to(f32), offset.to(f32), self.weight.to(f32), self.bias.to(f32), padding=(1, 1),
                            mask=torch.sigmoid(mask).to(f32))
        return out.to(x.dtype)


class BidirectionalPropagation(nn.Module):
    def __init__(self, channel: int):
        super().__init__()
        self.channel = channel
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(("backward_", "forward_")):
            self.deform_align[name] = SecondOrderDeformableAlignment(2 * channel, channel)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1, 1, 0)

    def forward(self, x, flows_backward, flows_forward):
        b, t, c, h, w = x.shape
        spatial = [x[:, i] for i in range(t)]
        feats: dict[str, list[torch.Tensor]] = {}
        for name in ("backward_", "forward_"):
            order = range(t - 1, -1, -1) if name == "backward_" else range(t)
            flows = flows_backward if name == "backward_" else flows_forward
            out: list[torch.Tensor] = []
            prop = x.new_zeros(b, self.channel, h, w)
            for i, idx in enumerate(order):
                cur = spatial[idx]
                if i > 0:
                    # The released weights were trained with flow index i - 1 in both directions (the backward
                    # branch does not reverse it as BasicVSR++ does); kept so they behave as trained.
                    flow_n1 = flows[:, i - 1]
                    cond_n1 = flow_warp(prop, flow_n1.permute(0, 2, 3, 1))
                    feat_n2, flow_n2, cond_n2 = torch.zeros_like(prop), torch.zeros_like(flow_n1), torch.zeros_like(cond_n1)
                    if i > 1:
                        feat_n2 = out[-2]
                        flow_n2 = flow_n1 + flow_warp(flows[:, i - 2], flow_n1.permute(0, 2, 3, 1))
                        cond_n2 = flow_warp(feat_n2, flow_n2.permute(0, 2, 3, 1))
                    cond = torch.cat([cond_n1, cur, cond_n2], 1)
                    prop = self.deform_align[name](torch.cat([prop, feat_n2], 1), cond, flow_n1, flow_n2)
                parts = [cur] + ([feats["backward_"][idx]] if name == "forward_" else []) + [prop]
                prop = prop + self.backbone[name](torch.cat(parts, 1))
                out.append(prop)
            feats[name] = out[::-1] if name == "backward_" else out
        fused = [self.fusion(torch.cat([feats["backward_"][i], feats["forward_"][i]], 1)) for i in range(t)]
        return torch.stack(fused, 1) + x


# ----------------------------------------------------------------------------- temporal focal transformer


def _tokens(size: tuple[int, int]) -> tuple[int, int]:
    return tuple(int((s + 2 * p - (k - 1) - 1) / st + 1) for s, k, st, p in zip(size, _SS_KERNEL, _SS_STRIDE, _SS_PAD))


class SoftSplit(nn.Module):
    def __init__(self, channel: int, hidden: int):
        super().__init__()
        self.embedding = nn.Linear(_SS_KERNEL[0] * _SS_KERNEL[1] * channel, hidden)

    def forward(self, x, b: int, size: tuple[int, int]):
        fh, fw = _tokens(size)
        feat = F.unfold(x, _SS_KERNEL, stride=_SS_STRIDE, padding=_SS_PAD).permute(0, 2, 1)
        return self.embedding(feat).view(b, -1, fh, fw, self.embedding.out_features)


class SoftComp(nn.Module):
    """Tokens back to a feature map; HQ adds a conv bias, non-HQ a fixed 60 x 108 learned bias map."""

    def __init__(self, channel: int, hidden: int, hq: bool):
        super().__init__()
        self.embedding = nn.Linear(hidden, _SS_KERNEL[0] * _SS_KERNEL[1] * channel)
        if hq:
            self.bias_conv = nn.Conv2d(channel, channel, 3, 1, 1)
        else:
            self.bias = nn.Parameter(torch.zeros(channel, NONHQ_SIZE[0] // 4, NONHQ_SIZE[1] // 4))

    def forward(self, x, t: int, size: tuple[int, int]):
        b = x.shape[0]
        feat = self.embedding(x.reshape(b, -1, x.shape[-1]))
        feat = feat.view(b * t, -1, feat.shape[-1]).permute(0, 2, 1)
        feat = F.fold(feat, output_size=size, kernel_size=_SS_KERNEL, stride=_SS_STRIDE, padding=_SS_PAD)
        if hasattr(self, "bias_conv"):
            return self.bias_conv(feat)
        return feat + self.bias[None]


class FusionFeedForward(nn.Module):
    """MLP whose hidden tokens are folded back to the map and re-split, so overlapping patches mix."""

    def __init__(self, dim: int, ffn: int):
        super().__init__()
        area = _SS_KERNEL[0] * _SS_KERNEL[1]
        if ffn % area:
            raise ValueError(f"ffn width {ffn} must be a multiple of {area}")
        self.conv1 = nn.Sequential(nn.Linear(dim, ffn))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(ffn, dim))

    def forward(self, x, size: tuple[int, int]):
        fh, fw = _tokens(size)
        x = self.conv1(x)
        b, n, c = x.shape
        area = _SS_KERNEL[0] * _SS_KERNEL[1]
        kw = dict(output_size=size, kernel_size=_SS_KERNEL, padding=_SS_PAD, stride=_SS_STRIDE)
        norm = F.fold(x.new_ones(b, n, area).view(-1, fh * fw, area).permute(0, 2, 1), **kw)
        x = F.fold(x.view(-1, fh * fw, c).permute(0, 2, 1), **kw)
        x = F.unfold(x / norm, _SS_KERNEL, padding=_SS_PAD, stride=_SS_STRIDE).permute(0, 2, 1).reshape(b, n, c)
        return self.conv2(x)


def _partition(x: torch.Tensor, ws: tuple[int, int]) -> torch.Tensor:
    """[B, T, H, W, C] -> [B * nWin, T, wh * ww, C], windows in (row, col) order."""
    b, t, h, w, c = x.shape
    x = x.view(b, t, h // ws[0], ws[0], w // ws[1], ws[1], c).permute(0, 2, 4, 1, 3, 5, 6)
    return x.reshape(-1, t, ws[0] * ws[1], c)


class WindowAttention(nn.Module):
    """Temporal focal attention: each window attends to itself, its rolled surroundings and pooled windows."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int]):
        super().__init__()
        self.dim, self.heads, self.window = dim, heads, window
        self.expand = tuple(i // 2 for i in window)
        self.scale = (dim // heads) ** -0.5
        wh, ww = window
        eh, ew = self.expand
        # keys of the 4 diagonal neighbour windows (rolled by the expand size) outside the window itself
        keep = []
        for q, (rows, cols) in enumerate(((range(wh - eh), range(ww - ew)), (range(wh - eh), range(ew, ww)),
                                           (range(eh, wh), range(ww - ew)), (range(eh, wh), range(ew, ww)))):
            keep += [q * wh * ww + r * ww + c for r in range(wh) for c in range(ww) if not (r in rows and c in cols)]
        self.register_buffer("valid_ind_rolled", torch.tensor(keep, dtype=torch.int64))
        # focal level 1: pooled windows around each window, one per position of a (wh, ww) neighbourhood
        self.unfolds = nn.ModuleList([nn.Unfold(kernel_size=window, stride=1, padding=(wh // 2, ww // 2))])
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[N, T, A, C] -> [N, heads, T * A, C / heads]."""
        n, t, a, c = x.shape
        return x.view(n, t, a, self.heads, c // self.heads).permute(0, 3, 1, 2, 4).reshape(n, self.heads, t * a, -1)

    def forward(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        b, t, nh, nw, c = x.shape
        ws, (eh, ew) = self.window, self.expand
        area = ws[0] * ws[1]
        q, k, v = self.qkv(x).reshape(b, t, nh, nw, 3, c).permute(4, 0, 1, 2, 3, 5)
        qw = self._heads(_partition(q, ws))
        keys, values = [self._heads(_partition(k, ws))], [self._heads(_partition(v, ws))]
        for src, dst in ((k, keys), (v, values)):
            rolled = [_partition(torch.roll(src, shifts=s, dims=(2, 3)), ws)
                      for s in ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))]
            r = torch.cat(rolled, 2)[:, :, self.valid_ind_rolled]  # [N, T, 4 * area - masked, C]
            dst.append(self._heads(r))
        n_rolled = keys[0].shape[2] + keys[1].shape[2]

        # pooled keys/values: the (wh, ww) neighbourhood of pooled windows around each window
        unfold = self.unfolds[0]
        pb, pt, ph, pw, _ = pooled.shape
        ones = pooled.new_ones(pt, 1, ph, pw)
        valid = unfold(ones).view(pt, area, ph * pw).permute(2, 0, 1).reshape(ph * pw, pt * area)
        bias = torch.zeros_like(valid).masked_fill(valid == 0, -100.0)  # [nWin, T * area]
        kvp = self.qkv(pooled).reshape(pb, pt, ph, pw, 3, c).permute(4, 0, 1, 5, 2, 3).reshape(3, -1, c, ph, pw)
        for src, dst in ((kvp[1], keys), (kvp[2], values)):
            u = unfold(src).view(pb, pt, c, ws[0], ws[1], -1).permute(0, 5, 1, 3, 4, 2).reshape(-1, pt, area, c)
            dst.append(self._heads(u))
        k_all, v_all = torch.cat(keys, 2), torch.cat(values, 2)

        attn = (qw * self.scale) @ k_all.transpose(-2, -1)  # [B * nWin, heads, T * area, N]
        pool_bias = bias.repeat(b, 1)[:, None, None, :]
        attn = torch.cat([attn[..., :n_rolled], attn[..., n_rolled:n_rolled + t * area] + pool_bias.to(attn.dtype),
                          attn[..., n_rolled + t * area:]], -1)
        attn = attn.softmax(-1)
        out = (attn @ v_all).transpose(1, 2).reshape(attn.shape[0], t * area, c)
        return self.proj(out)


class TemporalFocalTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: tuple[int, int], ffn: int):
        super().__init__()
        self.window = window
        self.pool_layers = nn.ModuleList([nn.Linear(window[0] * window[1], 1)])
        nn.init.constant_(self.pool_layers[0].weight, 1.0 / (window[0] * window[1]))
        nn.init.zeros_(self.pool_layers[0].bias)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, ffn)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """One learned-weighted token per window, after centre-cropping/padding to whole windows."""
        b, t, h, w, c = x.shape
        wh, ww = self.window
        hp, wp = math.ceil(h / wh) * wh, math.ceil(w / ww) * ww
        if h > hp:
            top = (h - hp) // 2
            x = x[:, :, top:top + hp]
        elif h < hp:
            top = (hp - h) // 2
            x = F.pad(x, (0, 0, 0, 0, top, hp - h - top))
        if w > wp:
            left = (w - wp) // 2
            x = x[:, :, :, left:left + wp]
        elif w < wp:
            left = (wp - w) // 2
            x = F.pad(x, (0, 0, left, wp - w - left))
        nh, nw = hp // wh, wp // ww
        win = x.reshape(b, t, nh, wh, nw, ww, c).permute(0, 2, 4, 1, 3, 5, 6).reshape(b, nh, nw, t, wh * ww, c)
        return self.pool_layers[0](win.transpose(4, 5)).flatten(-2)  # [B, nh, nw, T, C]

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, t, h, w, c = x.shape
        wh, ww = self.window
        y = self.norm1(x)
        pooled = self._pool(y).permute(0, 3, 1, 2, 4)  # [B, T, nh, nw, C]
        a = self.attn(y, pooled)
        a = a.view(b, h // wh, w // ww, t, wh, ww, c).permute(0, 3, 1, 4, 2, 5, 6).reshape(b, t, h, w, c)
        x = x + a
        return x + self.mlp(self.norm2(x).view(b, t * h * w, c), size).view(b, t, h, w, c)


class _Blocks(nn.Sequential):
    def forward(self, x, size):  # type: ignore[override]
        for blk in self:
            x = blk(x, size)
        return x


# ----------------------------------------------------------------------------- generator


class InpaintGenerator(nn.Module):
    """``forward(masked_frames [B, T, 3, H, W] in [-1, 1], n_local)`` -> [B * T, 3, H, W] in [-1, 1].

    The first ``n_local`` frames are consecutive (flow and propagation run on them); the rest are
    reference frames that only take part in attention. H, W must be multiples of 60 x 108 (HQ) or
    exactly 240 x 432 (non-HQ).
    """

    def __init__(self, arch: E2FGVIArch = E2FGVIArch()):
        super().__init__()
        self.arch = arch
        c = arch.channel
        self.encoder = Encoder(arch.base)
        self.decoder = _decoder(c // 2, arch.base)
        self.feat_prop_module = BidirectionalPropagation(c // 2)
        self.ss = SoftSplit(c // 2, arch.hidden)
        self.sc = SoftComp(c // 2, arch.hidden, arch.hq)
        self.transformer = _Blocks(*[TemporalFocalTransformerBlock(arch.hidden, arch.heads, arch.window, arch.ffn)
                                     for _ in range(arch.depths)])
        self.update_spynet = SPyNet()

    def check_size(self, h: int, w: int) -> None:
        if self.arch.hq:
            if h % HQ_MULTIPLE[0] or w % HQ_MULTIPLE[1]:
                raise ValueError(f"E2FGVI-HQ needs H, W multiples of {HQ_MULTIPLE} (got {h} x {w}); pad first")
        elif (h, w) != NONHQ_SIZE:
            raise ValueError(f"non-HQ E2FGVI works at {NONHQ_SIZE[0]} x {NONHQ_SIZE[1]} only (got {h} x {w})")

    def flows(self, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SPyNet flows between consecutive local frames at 1/4 size: (i -> i+1, i+1 -> i), in float32
        whatever the autocast precision (flows of tens of pixels need more than bf16's 8 bits)."""
        with torch.autocast(device_type=local.device.type, enabled=False):
            return self._flows(local.float())

    def _flows(self, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, lt, c, h, w = local.shape
        small = F.interpolate(local.reshape(-1, c, h, w), scale_factor=0.25, mode="bilinear", align_corners=True,
                              recompute_scale_factor=True).view(b, lt, c, h // 4, w // 4)
        a = small[:, :-1].reshape(-1, c, h // 4, w // 4)
        z = small[:, 1:].reshape(-1, c, h // 4, w // 4)
        fwd = self.update_spynet(a, z).view(b, lt - 1, 2, h // 4, w // 4)
        bwd = self.update_spynet(z, a).view(b, lt - 1, 2, h // 4, w // 4)
        return fwd, bwd

    def forward(self, masked_frames: torch.Tensor, n_local: int) -> torch.Tensor:
        b, t, ch, hh, ww = masked_frames.shape
        self.check_size(hh, ww)
        fwd, bwd = self.flows((masked_frames[:, :n_local] + 1) / 2)
        enc = self.encoder(masked_frames.reshape(b * t, ch, hh, ww))
        _, c, h, w = enc.shape
        enc = enc.view(b, t, c, h, w)
        local = self.feat_prop_module(enc[:, :n_local], fwd, bwd)
        enc = torch.cat((local, enc[:, n_local:]), 1)
        tokens = self.ss(enc.reshape(-1, c, h, w), b, (h, w))
        tokens = self.transformer(tokens, (h, w))
        enc = enc + self.sc(tokens, t, (h, w)).view(b, t, -1, h, w)
        return torch.tanh(self.decoder(enc.reshape(b * t, c, h, w)))

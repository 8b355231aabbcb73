"""The torch modules of the seed-paper zoo (imported only when a model is built).

Every network follows edgebench's model convention (float32 NCHW in [0, 1] in, the ``scale``×
image out, no final clamp) and uses only ops that export to ONNX (opset ≥ 20) and quantize to
int8 with onnxruntime: conv (standard, depthwise, transposed), relu, sigmoid, mean, mul, add, cat,
slicing, pixel shuffle, bicubic/bilinear resize, max-pool and (TecoGAN only) grid_sample.

Parameter counts (trainable parameters; mean-shift layers are left out as in the papers' counts):

* :class:`MSRN` (Li et al., ECCV 2018), x4 RGB: 6,078,019, exactly the figure of seed paper 001.
* :class:`MSRN` with ``separable=True`` = SMSRN (seed paper 001): every convolution of the
  multi-scale residual blocks *and the head convolution* becomes depthwise k×k (with bias) +
  pointwise 1×1 (with bias); the 1×1 "confusion", bottleneck and upsampler convolutions stay
  standard. This gives exactly the paper's 888,929 (14.63 % of MSRN). Without the separable
  head it would be 890,435 (+1,506).
* :class:`RCAN` (Zhang et al., ECCV 2018): 10 residual groups × 20 RCABs, 64 channels,
  reduction 16; 15,592,355 at x4 (the paper: about 16 M).
* :class:`RCAN` with SplitSR blocks (seed paper 002) — see :class:`SplitSRBlock`.
* :class:`EDSR` (Lim et al., CVPR-W 2017): teacher 32 blocks × 256 channels (res-scale 0.1),
  40,729,603 at x2 (paper 004: 40.7 M); student/baseline 16 × 64: 1,369,859 at x2 (paper 004
  rounds it to 1.5 M).
* :class:`.tecogan.TecoGAN` (Chu et al. 2020; pruned in seed paper 003): FRVSR-style generator SRNet
  (LR frame + space-to-depth of the warped previous output → 64 ch, N residual blocks of
  73,856 parameters each, two stride-2 transposed convolutions, output conv, + bicubic
  upsample of the frame) and the flow network FNet (1,745,506). See docs/zoo.md for how these
  counts compare with the paper's 2.5 / 2.2 / 1.9 / 1.6 / 1.3 M.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class SeparableConv(nn.Module):
    """Depthwise k×k (one filter per channel, with bias) followed by pointwise 1×1 (MobileNet)."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Upsampler(nn.Sequential):
    """EDSR/RCAN/MSRN sub-pixel upsampler: (conv C→4C, shuffle 2)×log2(s), or conv C→9C, shuffle 3."""

    def __init__(self, scale: int, feats: int):
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [conv(feats, 4 * feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv(feats, 9 * feats), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"unsupported scale {scale}")
        super().__init__(*layers)


# --------------------------------------------------------------------------------------------- MSRN


class MSRB(nn.Module):
    """Multi-scale residual block: parallel 3×3 / 5×5 branches twice, 1×1 fusion, residual add."""

    def __init__(self, feats: int = 64, separable: bool = False):
        super().__init__()
        make = (lambda ci, co, k: SeparableConv(ci, co, k)) if separable else conv
        self.conv_3_1 = make(feats, feats, 3)
        self.conv_5_1 = make(feats, feats, 5)
        self.conv_3_2 = make(2 * feats, 2 * feats, 3)
        self.conv_5_2 = make(2 * feats, 2 * feats, 5)
        self.confusion = nn.Conv2d(4 * feats, feats, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = torch.cat([self.relu(self.conv_3_1(x)), self.relu(self.conv_5_1(x))], dim=1)
        s2 = torch.cat([self.relu(self.conv_3_2(s1)), self.relu(self.conv_5_2(s1))], dim=1)
        return self.confusion(s2) + x


class MSRN(nn.Module):
    """MSRN (``separable=False``) or SMSRN (``separable=True``): 8 MSRBs, hierarchical 1×1 fusion."""

    def __init__(self, scale: int = 4, feats: int = 64, blocks: int = 8, separable: bool = False):
        super().__init__()
        self.head = SeparableConv(3, feats, 3) if separable else conv(3, feats)
        self.body = nn.ModuleList(MSRB(feats, separable) for _ in range(blocks))
        self.tail = nn.Sequential(
            nn.Conv2d(feats * (blocks + 1), feats, 1), conv(feats, feats), Upsampler(scale, feats), conv(feats, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        outs = [x]
        for block in self.body:
            x = block(x)
            outs.append(x)
        return self.tail(torch.cat(outs[1:] + outs[:1], dim=1))


# ------------------------------------------------------------------------------------- RCAN / SplitSR


class ChannelAttention(nn.Module):
    def __init__(self, feats: int, reduction: int = 16):
        super().__init__()
        squeezed = max(1, feats // reduction)  # a narrow SplitSR block still keeps one channel
        self.body = nn.Sequential(
            nn.Conv2d(feats, squeezed, 1), nn.ReLU(), nn.Conv2d(squeezed, feats, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x.mean(dim=(2, 3), keepdim=True))


class RCAB(nn.Module):
    """Residual channel-attention block: conv-relu-conv, channel attention, residual add."""

    def __init__(self, feats: int, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(conv(feats, feats), nn.ReLU(), conv(feats, feats), ChannelAttention(feats, reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


def split_channels(feats: int, alpha: float) -> int:
    """Channels a SplitSR block convolves: round(alpha·N), at least 1, at most N."""
    return max(1, min(feats, int(round(alpha * feats))))


class SplitSRBlock(nn.Module):
    """SplitSR's lightweight residual block (seed paper 002).

    The first ``alpha·N`` channels go through an RCAB of that width (conv-relu-conv, channel
    attention, residual add); the other ``(1-α)·N`` pass untouched. The two parts are concatenated
    with the processed ones *last*, so the next block convolves channels this one passed through
    and every channel is processed once every 1/α blocks. The residual covers the processed part
    only: the passed channels already are their own skip (adding ``x`` to them as well would
    double them in every block and overflow 200 blocks). Convolution cost falls by about α².
    """

    def __init__(self, feats: int, alpha: float, reduction: int = 16):
        super().__init__()
        self.k = split_channels(feats, alpha)
        self.body = nn.Sequential(conv(self.k, self.k), nn.ReLU(), conv(self.k, self.k))
        self.attention = ChannelAttention(self.k, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        active = x[:, : self.k]
        return torch.cat([x[:, self.k :], active + self.attention(self.body(active))], dim=1)


class SplitConv(nn.Module):
    """A 3×3 convolution on the first ``alpha·C_in`` channels only; the rest are passed and concatenated.

    Used where SplitSR replaces a standard convolution of another stage (``location="upsample"``):
    out = cat(rest, conv(first αC)); the output has ``cin - k + cout_k`` channels, chosen so it
    equals the standard layer's width.
    """

    def __init__(self, cin: int, cout: int, alpha: float):
        super().__init__()
        self.k = split_channels(cin, alpha)
        self.pass_through = cin - self.k
        if cout <= self.pass_through:
            raise ValueError("SplitConv output must be wider than the passed-through channels")
        self.conv = conv(self.k, cout - self.pass_through)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, self.k :], self.conv(x[:, : self.k])], dim=1)


class ResidualGroup(nn.Module):
    def __init__(self, feats: int, blocks: int, reduction: int, alpha: float | None):
        super().__init__()
        make = (lambda: RCAB(feats, reduction)) if alpha is None else (lambda: SplitSRBlock(feats, alpha, reduction))
        self.body = nn.Sequential(*[make() for _ in range(blocks)], conv(feats, feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


HYBRID_MODES = ("lightweight-first", "standard-first", "alternate")
LOCATIONS = ("feature", "upsample", "both")


def lightweight_groups(groups: int, hybrid_index: int, mode: str) -> list[bool]:
    """Which residual groups use SplitSR blocks: ``hybrid_index`` of ``groups``, ordered by ``mode``."""
    if not 0 <= hybrid_index <= groups:
        raise ValueError(f"hybrid_index must be in 0..{groups}")
    if mode == "lightweight-first":
        return [i < hybrid_index for i in range(groups)]
    if mode == "standard-first":
        return [i >= groups - hybrid_index for i in range(groups)]
    if mode == "alternate":  # spread the lightweight groups evenly, starting with one
        return [math.floor((i + 1) * hybrid_index / groups) > math.floor(i * hybrid_index / groups) for i in range(groups)]
    raise ValueError(f"hybrid_mode must be one of {HYBRID_MODES}")


class RCAN(nn.Module):
    """RCAN; with ``alpha`` set it becomes SplitSR (hybrid RCAN with SplitSR blocks).

    SplitSR hyper-parameters (seed paper 002): ``alpha`` channel-split ratio; ``hybrid_index``
    how many of the feature stage's standard blocks (here: residual groups) are replaced by
    lightweight ones (default: all); ``hybrid_mode`` the order of standard and lightweight
    groups; ``location`` the stage where replacement happens: "feature" (residual groups),
    "upsample" (the upsampler's convolutions become :class:`SplitConv`) or "both".
    """

    def __init__(
        self,
        scale: int = 4,
        feats: int = 64,
        groups: int = 10,
        blocks: int = 20,
        reduction: int = 16,
        alpha: float | None = None,
        hybrid_index: int | None = None,
        hybrid_mode: str = "lightweight-first",
        location: str = "feature",
    ):
        super().__init__()
        if location not in LOCATIONS:
            raise ValueError(f"location must be one of {LOCATIONS}")
        split_feature = alpha is not None and location in ("feature", "both")
        split_up = alpha is not None and location in ("upsample", "both")
        light = lightweight_groups(groups, groups if hybrid_index is None else hybrid_index, hybrid_mode)
        if not split_feature:
            light = [False] * groups
        self.lightweight = light
        self.head = conv(3, feats)
        self.body = nn.Sequential(
            *[ResidualGroup(feats, blocks, reduction, alpha if lw else None) for lw in light], conv(feats, feats)
        )
        up = Upsampler(scale, feats)
        if split_up:
            assert alpha is not None
            for i, layer in enumerate(up):
                if isinstance(layer, nn.Conv2d):
                    up[i] = SplitConv(layer.in_channels, layer.out_channels, alpha)
        self.tail = nn.Sequential(up, conv(feats, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return self.tail(self.body(x) + x)


# --------------------------------------------------------------------------------------------- EDSR


class ResBlock(nn.Module):
    def __init__(self, feats: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(conv(feats, feats), nn.ReLU(), conv(feats, feats))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return (y * self.res_scale if self.res_scale != 1 else y) + x


class EDSR(nn.Module):
    """EDSR: head conv, B residual blocks + conv with a long skip, sub-pixel upsampler, output conv.

    :meth:`features` returns the body output (the feature map distillation could also use);
    ``forward`` the image.
    """

    def __init__(self, scale: int = 2, feats: int = 64, blocks: int = 16, res_scale: float = 1.0):
        super().__init__()
        self.head = conv(3, feats)
        self.body = nn.Sequential(*[ResBlock(feats, res_scale) for _ in range(blocks)], conv(feats, feats))
        self.tail = nn.Sequential(Upsampler(scale, feats), conv(feats, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return self.tail(self.body(x) + x)


class BicubicUp(nn.Module):
    """Plain bicubic upsampling (the PSNR baseline every trained model must beat)."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=float(self.scale), mode="bicubic", align_corners=False)


# ------------------------------------------------------------------------------------------ builders

def build(name: str) -> nn.Module:
    from .tecogan import TecoGAN  # its own module; imported here, where nets is complete

    if name == "msrn":
        return MSRN(4)
    if name == "smsrn":
        return MSRN(4, separable=True)
    if name == "rcan":
        return RCAN(4)
    if name == "splitsr":
        return RCAN(4, alpha=0.25)
    if name == "edsr":
        return EDSR(2, feats=256, blocks=32, res_scale=0.1)
    if name == "edsr-baseline":
        return EDSR(2, feats=64, blocks=16)
    if name.startswith("tecogan-srnet"):
        blocks = int(name.rsplit("-b", 1)[1]) if "-b" in name else 10
        return TecoGAN(blocks)
    if name in ("scsrn-qat", "abpn-qat"):
        from edgebench_sr_models import nets as sr_nets  # the architectures QAT fine-tunes

        return getattr(sr_nets, f"build_{name.split('-')[0]}")(3)
    raise KeyError(name)

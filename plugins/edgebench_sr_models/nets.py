"""The torch modules of the seed model zoo (imported only when a model is built).

Every network follows edgebench's model convention: float32 NCHW in [0, 1] in, the ``scale``×
larger image out, no final clamp (runtimes clip afterwards; a clamp in the graph hurts TFLite
int8 export). Only conv2d, relu, cat, add, slicing, repeat_interleave and pixel shuffle are used,
so each exports to ONNX, TFLite and ExecuTorch/XNNPACK and quantizes to int8.

Architectures:

* :class:`Bicubic`: PyTorch's bicubic upsampling (``align_corners=False``, a = -0.75) written as
  edge (replicate) padding, a fixed 5×5 convolution producing the ``scale²`` sub-pixel phases
  of every colour channel, and a pixel shuffle. No trainable parameters.
* :class:`ABPN`: Anchor-based Plain Net (Du et al., CVPR-W 2021; MAI 2021 winner): seven 3×3
  convolutions (3→28, 4× 28→28, 28→27, 27→27 for x3) with ReLU between them, plus the *anchor*:
  the input repeated ``scale²`` times along channels, so the network only learns a residual over
  nearest-neighbour upsampling. 42,539 parameters at x3.
* :class:`SCSRN`: Skip-Concatenated SR Network (Gankhuyag, Kim et al., KETI; MAI & AIM 2022 winner,
  IEEE Access 2023). Instead of repeating the input ``scale²`` times and adding it at the end, the
  input image is concatenated to the feature maps before the last convolution.

  Layer sizes: the KETI paper (shared/papers/000) gives the idea (skip concatenation of the 8-bit
  input before the output convolution, no element-wise add) but not the widths; the architecture
  figure and the challenge report's table were not available to us. We therefore keep ABPN's
  budget and depth: 3→28, 4× 28→28, 28→24 (ReLU), concat with the 3-channel input → 27 channels,
  27→27 output convolution, pixel shuffle. 41,780 parameters at x3 (ABPN's 42,539 less the 28→27
  layer narrowed to 24 outputs, which the 3 input channels fill back to 27). The output
  convolution's weights on the input channels start at the nearest-neighbour identity (each
  sub-pixel channel copies its colour's LR pixel), so training starts from ABPN's anchor and only
  has to learn the residual, like ABPN, while the graph has no add.
"""

from __future__ import annotations

import torch
from torch import nn

BICUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic convolution coefficient


def _cubic(x: float, a: float = BICUBIC_A) -> float:
    """Keys' cubic convolution kernel."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def bicubic_phase_taps(scale: int) -> tuple[torch.Tensor, int]:
    """1-D taps of each output phase: a ``scale × K`` matrix and the padding ``K // 2``.

    Output pixel ``o = scale*i + p`` samples the input at ``(o + 0.5)/scale - 0.5 = i + d`` with
    ``d = (p + 0.5)/scale - 0.5`` (align_corners=False); its four cubic taps sit at
    ``floor(i + d) - 1 .. floor(i + d) + 2``, i.e. offsets relative to ``i`` within ±pad.
    """
    import math

    offsets = [(p + 0.5) / scale - 0.5 for p in range(scale)]
    pad = max(max(abs(math.floor(d) - 1), math.floor(d) + 2) for d in offsets)
    taps = torch.zeros(scale, 2 * pad + 1, dtype=torch.float64)
    for p, d in enumerate(offsets):
        base = math.floor(d)
        t = d - base
        for k in range(-1, 3):
            taps[p, base + k + pad] += _cubic(k - t)
    return taps, pad


class Bicubic(nn.Module):
    """Bicubic upsampling as replicate-pad + fixed convolution + pixel shuffle (0 parameters)."""

    def __init__(self, scale: int = 3, channels: int = 3):
        super().__init__()
        taps, pad = bicubic_phase_taps(scale)
        k = taps.shape[1]
        weight = torch.zeros(channels * scale * scale, channels, k, k, dtype=torch.float64)
        for c in range(channels):
            for py in range(scale):
                for px in range(scale):
                    # PixelShuffle reads channel c*s*s + py*s + px for sub-pixel (py, px) of colour c
                    weight[c * scale * scale + py * scale + px, c] = torch.outer(taps[py], taps[px])
        self.pad = pad
        self.conv = nn.Conv2d(channels, channels * scale * scale, k, bias=False)
        self.conv.weight.data.copy_(weight.float())
        self.conv.weight.requires_grad_(False)  # fixed filter: not a trainable parameter
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(replicate_pad(x, self.pad)))


def replicate_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Edge padding (PyTorch's clamped border indexing) from slices and concatenations.

    ``F.pad(mode="replicate")`` would lower to a gather (``aten.index``) under torch.export's
    decompositions, which XNNPACK and int8 TFLite handle badly; slice + concat export everywhere.
    """
    if pad == 0:
        return x
    x = torch.cat([x[:, :, :1]] * pad + [x] + [x[:, :, -1:]] * pad, dim=2)
    return torch.cat([x[:, :, :, :1]] * pad + [x] + [x[:, :, :, -1:]] * pad, dim=3)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def _plain_stack(cin: int, features: int, blocks: int, cout: int) -> list[nn.Module]:
    """conv-ReLU from ``cin`` to ``features``, ``blocks`` more at ``features``, then one to ``cout``."""
    layers: list[nn.Module] = [_conv(cin, features), nn.ReLU()]
    for _ in range(blocks):
        layers += [_conv(features, features), nn.ReLU()]
    return layers + [_conv(features, cout), nn.ReLU()]


class ABPN(nn.Module):
    """Anchor-based Plain Net: plain 3×3 conv stack + nearest-neighbour anchor + pixel shuffle."""

    def __init__(self, scale: int = 3, channels: int = 3, features: int = 28, blocks: int = 4):
        super().__init__()
        out = channels * scale * scale
        self.body = nn.Sequential(*_plain_stack(channels, features, blocks, out), _conv(out, out))
        self.scale = scale
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # repeat_interleave (not cat) so channel c*s²+k holds colour c: after PixelShuffle every
        # output pixel is anchored to its own LR pixel (cat would mix colours under torch's order)
        anchor = torch.repeat_interleave(x, self.scale * self.scale, dim=1)
        return self.shuffle(self.body(x) + anchor)


class SCSRN(nn.Module):
    """Skip-concatenated SR network: the input joins the features before the output conv."""

    def __init__(self, scale: int = 3, channels: int = 3, features: int = 28, blocks: int = 4):
        super().__init__()
        out = channels * scale * scale
        self.body = nn.Sequential(*_plain_stack(channels, features, blocks, out - channels))
        self.tail = _conv(out, out)
        self.shuffle = nn.PixelShuffle(scale)
        with torch.no_grad():  # input channels of the tail start as the nearest-neighbour anchor
            skip = self.tail.weight[:, out - channels :]
            skip.mul_(0.1)
            for c in range(channels):
                skip[c * scale * scale : (c + 1) * scale * scale, c, 1, 1] += 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.tail(torch.cat([self.body(x), x], dim=1)))


def build_bicubic(scale: int = 3) -> nn.Module:
    return Bicubic(scale)


def build_abpn(scale: int = 3) -> nn.Module:
    return ABPN(scale)


def build_scsrn(scale: int = 3) -> nn.Module:
    return SCSRN(scale)

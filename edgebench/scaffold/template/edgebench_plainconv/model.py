"""Bicubic x3 as a real torch module: one fixed 5x5 conv per colour, then pixel shuffle."""

import torch
from torch import nn

SCALE = 3


def keys_cubic(t: float, a: float = -0.5) -> float:
    """The bicubic kernel of Keys (1981), as MATLAB's imresize uses it."""
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def phase_taps(scale: int = SCALE, radius: int = 2) -> torch.Tensor:
    """Row p: weights of input pixels -radius..radius for output pixel p of each scale-wide block."""
    rows = []
    for p in range(scale):
        centre = (p + 0.5) / scale - 0.5  # where that output pixel falls, in input pixels
        rows.append([keys_cubic(tap - centre) for tap in range(-radius, radius + 1)])
    return torch.tensor(rows)


def build() -> nn.Module:
    taps = phase_taps()
    # one 5x5 kernel per output phase (p, q); pixel shuffle puts phase p*SCALE+q at (p, q)
    kernels = torch.einsum("pi,qj->pqij", taps, taps).reshape(SCALE * SCALE, 1, 5, 5)
    conv = nn.Conv2d(3, 3 * SCALE * SCALE, 5, padding=2, padding_mode="replicate", groups=3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(kernels.repeat(3, 1, 1, 1))
    return nn.Sequential(conv, nn.PixelShuffle(SCALE))

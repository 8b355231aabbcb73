"""TecoGAN's frame-recurrent generator (seed paper 003): FNet, SRNet, flow warp (parameter counts: :mod:`.nets`)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .nets import ResBlock, conv


def space_to_depth(x: torch.Tensor, block: int) -> torch.Tensor:
    """Inverse pixel shuffle (channel order c·b² + dy·b + dx, as nn.PixelUnshuffle)."""
    return F.pixel_unshuffle(x, block)


class SRNet(nn.Module):
    """TecoGAN/FRVSR generator: (frame, warped previous HR output) → frame ×4.

    Input: the LR frame (3 ch) concatenated with the space-to-depth of the warped previous
    estimate (3·16 ch); conv 51→64 + ReLU; ``blocks`` residual blocks (conv-relu-conv, 73,856
    parameters each); two 3×3 stride-2 transposed convolutions (64→64, ReLU); conv 64→3; plus the
    bicubic upsampling of the frame.
    """

    def __init__(self, blocks: int = 10, feats: int = 64, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.head = nn.Sequential(conv(3 + 3 * scale * scale, feats), nn.ReLU())
        self.body = nn.Sequential(*[ResBlock(feats, 1.0) for _ in range(blocks)])
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            ups += [nn.ConvTranspose2d(feats, feats, 3, stride=2, padding=1, output_padding=1), nn.ReLU()]
        self.up = nn.Sequential(*ups)
        self.out = conv(feats, 3)

    def forward(self, frame: torch.Tensor, warped_prev: torch.Tensor) -> torch.Tensor:
        x = self.head(torch.cat([frame, space_to_depth(warped_prev, self.scale)], dim=1))
        y = self.out(self.up(self.body(x)))
        return y + F.interpolate(frame, scale_factor=self.scale, mode="bicubic", align_corners=False)


class FNet(nn.Module):
    """TecoGAN's flow estimator: encoder (32, 64, 128, max-pool ×3), decoder (256, 128, 64, bilinear ×2), flow = 24·tanh."""

    def __init__(self):
        super().__init__()

        def pair(ci: int, co: int) -> list[nn.Module]:
            return [conv(ci, co), nn.LeakyReLU(0.2), conv(co, co), nn.LeakyReLU(0.2)]

        self.enc = nn.ModuleList(nn.Sequential(*pair(ci, co)) for ci, co in ((6, 32), (32, 64), (64, 128)))
        self.dec = nn.ModuleList(nn.Sequential(*pair(ci, co)) for ci, co in ((128, 256), (256, 128), (128, 64)))
        self.flow = nn.Sequential(conv(64, 32), nn.LeakyReLU(0.2), conv(32, 2))

    def forward(self, frame: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        x = torch.cat([frame, prev], dim=1)
        for layer in self.enc:
            x = F.max_pool2d(layer(x), 2)
        for layer in self.dec:
            x = F.interpolate(layer(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        return torch.tanh(self.flow(x)) * 24.0  # pixels of LR motion, (dx, dy)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``image`` by ``flow`` (pixels, (dx, dy)) with bilinear grid_sample.

    The sampling grid is built from cumulative sums of ones (not linspace of the shape), so an
    exported graph keeps dynamic height and width.
    """
    ones = torch.ones_like(flow[:, 0])  # N×H×W
    xs = ones.cumsum(2) - 1.0  # 0 .. W-1
    ys = ones.cumsum(1) - 1.0  # 0 .. H-1
    w1 = xs[:, :1, -1:].clamp(min=1.0)  # W-1
    h1 = ys[:, -1:, :1].clamp(min=1.0)  # H-1
    gx = (xs + flow[:, 0]) * (2.0 / w1) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / h1) - 1.0
    grid = torch.stack([gx, gy], dim=3)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class TecoGAN(nn.Module):
    """Frame-recurrent TecoGAN generator: FNet flow → upsampled, warped previous output → SRNet.

    ``step(frame, prev_frame, prev_out)`` processes one frame of a sequence; ``forward(frame)``
    is edgebench's single-image convention (one input tensor): one steady-state step on a still
    sequence, i.e. the previous LR frame is the frame itself and the previous output is its
    bicubic upsampling, so the graph holds every op of a video step (FNet, flow upsampling,
    grid_sample warp, SRNet) and its latency is the per-frame cost.
    """

    def __init__(self, blocks: int = 10, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.fnet = FNet()
        self.srnet = SRNet(blocks, scale=scale)

    def step(self, frame: torch.Tensor, prev_frame: torch.Tensor, prev_out: torch.Tensor) -> torch.Tensor:
        flow = self.fnet(frame, prev_frame)
        size = (frame.shape[2] * self.scale, frame.shape[3] * self.scale)  # FNet works at /8 resolution
        flow_hr = F.interpolate(flow, size=size, mode="bilinear", align_corners=False) * self.scale
        return self.srnet(frame, warp(prev_out, flow_hr))

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        prev_out = F.interpolate(frame, scale_factor=float(self.scale), mode="bicubic", align_corners=False)
        return self.step(frame, frame, prev_out)

    def run_sequence(self, frames: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Super-resolve a list of 1×3×H×W frames recurrently (first frame: black previous output)."""
        outs: list[torch.Tensor] = []
        prev_frame = frames[0]
        prev_out = torch.zeros(
            frames[0].shape[0], 3, frames[0].shape[2] * self.scale, frames[0].shape[3] * self.scale, device=frames[0].device
        )
        for frame in frames:
            out = self.step(frame, prev_frame, prev_out)
            outs.append(out)
            prev_frame, prev_out = frame, out
        return outs

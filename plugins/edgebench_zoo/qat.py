"""Quantization-aware fine-tuning with weight clipping and a symmetry regulariser (seed paper 000).

KETI's SCSRN recipe (MAI & AIM 2022 winner): start from the float ("Scratch") weights, fine-tune
with fake int8 quantization (QAT), and keep the learned weights' distribution as symmetric as
possible with *weight clipping* and *regularisation*, so the symmetric int8 weight grid loses
little. The paper gives the idea but not the constants; ours:

* fake quantization: every convolution's weight per output channel, symmetric int8
  (scale = max|w| / 127, as onnxruntime's per-channel QInt8), and its input activation per
  tensor, asymmetric uint8 with an exponential moving min/max (as QUInt8 min-max calibration);
  straight-through gradients.
* weight clipping (``clip=True``): weights pass through ``clamp(w, -c, c)`` before fake
  quantization, with ``c = clip_ratio · max|w|`` of the layer's float weights at the start of
  QAT (default 1.0: QAT may not widen a layer's range, so no new outlier stretches the int8
  grid). A σ-based bound (e.g. 3σ) was tried first and destroys SCSRN: its output convolution
  carries the nearest-neighbour identity taps (1.0 among weights of σ ≈ 0.06), which are
  exactly the "outliers" such a bound clips.
* regularisation (``clip=True``): ``reg_weight · mean over layers of mean over channels of
  ((max_c + min_c) / (2 max|w|_c))²`` — zero when each channel's range is symmetric about 0 —
  plus ``reg_weight · mean(relu(|w| - c)²)``, which pulls clipped weights back into the range.

:func:`finalize` removes the fake quantizers and writes the (clipped) float weights back into
the plain module, which then exports and quantizes like any model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


def _ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class WeightQuant(nn.Module):
    """Parametrization: optional clamp to ±c, then per-output-channel symmetric int8 fake quantization."""

    def __init__(self, clip: float | None):
        super().__init__()
        self.clip = clip
        self.enabled = True

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.clip is not None:
            w = torch.clamp(w, -self.clip, self.clip)
        if not self.enabled:
            return w
        dims = tuple(range(1, w.dim()))
        scale = w.detach().abs().amax(dim=dims, keepdim=True).clamp(min=1e-8) / 127.0
        return torch.clamp(_ste_round(w / scale), -127, 127) * scale


class ActQuant(nn.Module):
    """Per-tensor asymmetric uint8 fake quantization with EMA min/max (updated in train mode)."""

    def __init__(self, momentum: float = 0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            lo, hi = x.detach().amin(), x.detach().amax()
            if not bool(self.seen):
                self.lo.copy_(lo), self.hi.copy_(hi), self.seen.fill_(True)
            else:
                self.lo.lerp_(lo, self.momentum), self.hi.lerp_(hi, self.momentum)
        lo, hi = torch.minimum(self.lo, torch.zeros(())), torch.maximum(self.hi, torch.zeros(()))
        scale = ((hi - lo) / 255.0).clamp(min=1e-8)
        zero = torch.round(-lo / scale)
        q = torch.clamp(_ste_round(x / scale) + zero, 0, 255)
        return (q - zero) * scale


@dataclass
class QATState:
    """The fake quantizers attached to a module (see :func:`prepare`)."""

    convs: list[nn.Conv2d]
    clips: list[float | None]
    acts: list[ActQuant]
    handles: list[Any] = field(default_factory=list)
    reg_weight: float = 0.0


def prepare(module: nn.Module, clip: bool, clip_ratio: float = 1.0, reg_weight: float = 1e-2) -> QATState:
    """Attach fake quantization (and clipping) to every Conv2d of ``module``, in place."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.weight.requires_grad]
    clips: list[float | None] = []
    acts: list[ActQuant] = []
    handles = []
    for layer in convs:
        c = float(clip_ratio * layer.weight.detach().abs().max()) if clip else None
        clips.append(c)
        parametrize.register_parametrization(layer, "weight", WeightQuant(c))
        act = ActQuant()
        layer.add_module("input_quant", act)
        acts.append(act)
        handles.append(layer.register_forward_pre_hook(lambda mod, args: (mod.input_quant(args[0]),)))
    return QATState(convs, clips, acts, handles, reg_weight if clip else 0.0)


def regulariser(state: QATState) -> torch.Tensor | None:
    """The symmetry + range penalty of the clipping recipe (None without clipping)."""
    if state.reg_weight <= 0:
        return None
    terms = []
    for layer, c in zip(state.convs, state.clips):
        w = layer.parametrizations.weight.original
        flat = w.flatten(1)
        amax = flat.abs().amax(dim=1).clamp(min=1e-8)
        symmetry = ((flat.amax(dim=1) + flat.amin(dim=1)) / (2 * amax)).pow(2).mean()
        outside = F.relu(w.abs() - c).pow(2).mean() if c is not None else w.new_zeros(())
        terms.append(symmetry + outside)
    return state.reg_weight * torch.stack(terms).mean()


def finalize(module: nn.Module, state: QATState) -> nn.Module:
    """Remove the fake quantizers; the module keeps the clipped float weights."""
    for handle in state.handles:
        handle.remove()
    for layer in state.convs:
        layer.parametrizations.weight[0].enabled = False  # keep clipping, drop the rounding
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        del layer.input_quant
    return module

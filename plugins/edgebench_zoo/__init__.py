"""The seed-paper model zoo: MSRN/SMSRN, RCAN/SplitSR, EDSR/EDSR-baseline, TecoGAN (pruned), QAT SCSRN/ABPN.

Non-default models (``edgebench run`` with no ``--model`` still runs only bicubic, abpn and
scsrn); ``edgebench run --model smsrn`` etc. picks them. Adds two commands:
``edgebench train MODEL`` and ``edgebench study NAME`` (see :mod:`edgebench_zoo.commands`).

Imported at CLI start-up, so nothing here imports torch: ``build`` callables import
:mod:`edgebench_zoo.nets` when a model is built. Weights: one trained with ``edgebench train``
and cached in the zoo data dir (``$EDGEBENCH_ZOO_DIR`` or the user data dir's ``edgebench/zoo``)
wins, else the file shipped in ``weights/``; a model with neither runs with its untrained
initial weights (tagged ``untrained``) until it is trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgebench import ModelSpec, hookimpl

SHIPPED_DIR = Path(__file__).with_name("weights")

PAPERS = {
    "msrn": "J. Li, F. Fang, K. Mei, G. Zhang: Multi-scale Residual Network for Image Super-Resolution, ECCV 2018",
    "smsrn": "D. Kim, J. Kang, J. Lee: Lightweighting of Super-Resolution Model Using Depth-Wise Separable "
    "Convolution (SMSRN), J. KICS 46(4), 2021",
    "rcan": "Y. Zhang, K. Li, K. Li, L. Wang, B. Zhong, Y. Fu: Image Super-Resolution Using Very Deep Residual "
    "Channel Attention Networks, ECCV 2018",
    "splitsr": "X. Liu, Y. Li, J. Fromm, Y. Wang, Z. Jiang, A. Mariakakis, S. Patel: SplitSR: An End-to-End "
    "Approach to Super-Resolution on Mobile Devices, IMWUT 5(1), 2021",
    "edsr": "B. Lim, S. Son, H. Kim, S. Nah, K. M. Lee: Enhanced Deep Residual Networks for Single Image "
    "Super-Resolution, CVPR-W 2017",
    "edsr-kd": "H. Moon, Y. Kwon, J. Jeong, S. Kim (KETI): Compression of Super-Resolution model Using "
    "Contrastive Learning (EDSR distillation)",
    "tecogan": "M. Chu, Y. Xie, J. Mayer, L. Leal-Taixé, N. Thuerey: Learning Temporal Coherence via "
    "Self-Supervision for GAN-based Video Generation (TecoGAN), ACM TOG 2020; pruned SRNet: A Study on "
    "Lightweight and Optimizing with GAN Based Video Super-resolution Model (Kyungpook National University)",
    "scsrn": "S. Kim, J. Jeong, G. Gankhuyag (KETI): Real-time Single Image Super Resolution in Mobile Devices "
    "(Mobile AI & AIM 2022 winner): skip concatenation, QAT with weight clipping and regularisation",
}


@dataclass(frozen=True)
class Entry:
    """What the registry knows about a zoo model without importing torch."""

    name: str
    scale: int
    params: int  # trainable parameters (checked by tests/test_zoo_models.py)
    description: str
    paper: str
    tags: tuple[str, ...] = ()


TECOGAN_BLOCKS = (10, 7, 5, 3, 1)
TECOGAN_PARAMS = {10: 2_589_093, 7: 2_367_525, 5: 2_219_813, 3: 2_072_101, 1: 1_924_389}

ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in [
        Entry("msrn", 4, 6_078_019, "MSRN x4: 8 multi-scale residual blocks (3x3 + 5x5 branches), 64 ch, hierarchical fusion",
              PAPERS["msrn"], ("paper-001", "large")),
        Entry("smsrn", 4, 888_929, "SMSRN x4: MSRN with depthwise-separable convolutions in the blocks and head (14.6 % of MSRN)",
              PAPERS["smsrn"], ("paper-001", "separable")),
        Entry("rcan", 4, 15_592_355, "RCAN x4: 10 residual groups x 20 channel-attention blocks, 64 ch",
              PAPERS["rcan"], ("paper-002", "large")),
        Entry("splitsr", 4, 1_642_955, "SplitSR x4: RCAN with SplitSR blocks (alpha 0.25 of the channels convolved) in every group",
              PAPERS["splitsr"], ("paper-002", "channel-split")),
        Entry("edsr", 2, 40_729_603, "EDSR x2 teacher: 32 residual blocks, 256 ch, res-scale 0.1",
              PAPERS["edsr"] + "; " + PAPERS["edsr-kd"], ("paper-004", "teacher", "large")),
        Entry("edsr-baseline", 2, 1_369_859, "EDSR-baseline x2 student: 16 residual blocks, 64 ch (distilled with `train --distill`)",
              PAPERS["edsr"] + "; " + PAPERS["edsr-kd"], ("paper-004", "student")),
        *[
            Entry("tecogan-srnet" + ("" if b == 10 else f"-b{b}"), 4, TECOGAN_PARAMS[b],
                  f"TecoGAN x4 video generator (FNet + SRNet with {b} residual blocks); single-image input = "
                  "one steady-state frame step", PAPERS["tecogan"], ("paper-003", "video") + (() if b == 10 else ("pruned",)))
            for b in TECOGAN_BLOCKS
        ],
        Entry("scsrn-qat", 3, 41_780, "SCSRN x3 fine-tuned with QAT (fake int8, weight clipping, symmetry regulariser)",
              PAPERS["scsrn"], ("paper-000", "qat")),
        Entry("abpn-qat", 3, 42_539, "ABPN x3 fine-tuned with the SCSRN QAT recipe",
              PAPERS["scsrn"], ("paper-000", "qat")),
    ]
}

#: models small enough (≤ ~2 M parameters) for weights in the wheel; the rest train on demand.
SHIPPABLE_LIMIT = 2_000_000


def zoo_dir() -> Path:
    """Where trained weights, checkpoints and study results go."""
    env = os.environ.get("EDGEBENCH_ZOO_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("edgebench")) / "zoo"


def weights_name(name: str) -> str:
    return f"{name}_x{ENTRIES[name].scale}.pt"


def weights_path(name: str) -> Path | None:
    """The weights a model loads: trained here with `edgebench train`, else shipped, else None.

    A user's own training wins over the shipped file: it is the reason to have run it.
    """
    for folder in (zoo_dir() / "weights", SHIPPED_DIR):
        path = folder / weights_name(name)
        if path.is_file():
            return path
    return None


def _builder(name: str) -> Callable[[], Any]:
    def build() -> Any:
        from . import nets  # torch is imported here, not at CLI start-up

        return nets.build(name)

    build.__name__ = f"build_{name.replace('-', '_')}"
    return build


def model_spec(name: str) -> ModelSpec:
    entry = ENTRIES[name]
    weights = weights_path(name)
    tags = entry.tags + (() if weights is not None else ("untrained",))
    description = entry.description + ("" if weights is not None else f" [untrained: run `edgebench train {name}`]")
    return ModelSpec(name=name, scale=entry.scale, build=_builder(name), description=description, weights=weights,
                     paper=entry.paper, default=False, tags=tags)


def model_specs() -> list[ModelSpec]:
    return [model_spec(name) for name in ENTRIES]


@hookimpl
def edgebench_register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in model_specs():
        register(spec)


@hookimpl
def edgebench_register_commands(cli: Any) -> None:
    from .commands import study_command, train_command  # click only; no torch

    cli.add_command(train_command)
    cli.add_command(study_command)

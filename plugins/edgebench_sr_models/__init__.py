"""The seed model zoo: the bicubic baseline, ABPN (MAI 2021 winner) and SCSRN (MAI 2022 winner).

Imported at CLI start-up, so nothing here imports torch: each ``build`` callable imports the
networks from :mod:`edgebench_sr_models.nets` when a model is actually built. Trained weights
(x3, trained on edgebench's bundled "train" photos) live in ``weights/``; see
``weights/TRAINING.md`` and ``python -m edgebench_sr_models.train_defaults`` to reproduce them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgebench import ModelSpec, hookimpl

WEIGHTS_DIR = Path(__file__).with_name("weights")
SCALE = 3

ABPN_PAPER = (
    "Z. Du, J. Liu, J. Tang, G. Wu: Anchor-based Plain Net for Mobile Image Super-Resolution, "
    "CVPR Workshops (MAI) 2021, arXiv:2105.09750"
)
SCSRN_PAPER = (
    "G. Gankhuyag, J. Huh, M. Kim, K. Yoon, H. Moon, S. Lee, J. Jeong, S. Kim, Y. Choe: "
    "Skip-Concatenated Image Super-Resolution Network for Mobile Devices, IEEE Access 11 (2023), "
    "doi:10.1109/ACCESS.2022.3232258; S. Kim, J. Jeong, G. Gankhuyag (KETI): Real-time Single Image "
    "Super Resolution in Mobile Devices (Mobile AI & AIM 2022 winner)"
)


def _builder(name: str) -> Callable[[], Any]:
    def build() -> Any:
        from . import nets  # torch is imported here, not at CLI start-up

        return getattr(nets, f"build_{name}")(SCALE)

    build.__name__ = f"build_{name}"
    return build


def model_specs() -> list[ModelSpec]:
    """The three default x3 models."""
    return [
        ModelSpec(
            name="bicubic",
            scale=SCALE,
            build=_builder("bicubic"),
            description="Bicubic x3 upsampling (PyTorch's, a=-0.75) as a fixed conv + pixel shuffle; the baseline",
            paper="R. Keys: Cubic convolution interpolation for digital image processing, IEEE TASSP 1981",
            default=True,
            tags=("baseline", "no-weights"),
        ),
        ModelSpec(
            name="abpn",
            scale=SCALE,
            build=_builder("abpn"),
            description="Anchor-based Plain Net x3: 7 plain 3x3 convs (28 ch) + repeated-input anchor; 42.5k params",
            weights=WEIGHTS_DIR / f"abpn_x{SCALE}.pt",
            paper=ABPN_PAPER,
            default=True,
            tags=("mai2021", "plain-conv"),
        ),
        ModelSpec(
            name="scsrn",
            scale=SCALE,
            build=_builder("scsrn"),
            description="Skip-Concatenated SR Network x3: input concatenated before the output conv, no add; 41.8k params",
            weights=WEIGHTS_DIR / f"scsrn_x{SCALE}.pt",
            paper=SCSRN_PAPER,
            default=True,
            tags=("mai2022", "plain-conv"),
        ),
    ]


@hookimpl
def edgebench_register_models(register: Callable[[ModelSpec], None]) -> None:
    for spec in model_specs():
        register(spec)

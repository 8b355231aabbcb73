"""edgebench: benchmark int8 super-resolution models on edge hardware.

The public API for plugins: ``hookimpl`` plus the types in :mod:`edgebench.api`.
"""

from __future__ import annotations

from .api import (Artifact, Backend, CommandResult, DatasetSpec, ModelSpec, NativeJob, PowerMeter, PowerTrace,
                  Transport)
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "Backend",
    "CommandResult",
    "DatasetSpec",
    "ModelSpec",
    "NativeJob",
    "PowerMeter",
    "PowerTrace",
    "Transport",
    "__version__",
    "hookimpl",
]

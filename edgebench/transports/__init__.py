"""Transports: how edgebench reaches a device. The base class lives in :mod:`edgebench.api`."""

from __future__ import annotations

import shlex
from typing import Sequence


def shell_join(argv: Sequence[str]) -> str:
    """Quote each argument for a POSIX shell, so a hostile name stays one inert word."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)

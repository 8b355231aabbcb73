"""Write an executable copy of the ``executor_runner`` test double with its behaviour baked in.

    runner = write_executor_runner(tmp_path / "executor_runner")                   # XNNPACK build, logging on
    portable = write_executor_runner(tmp_path / "executor_runner", backends=())     # no XNNPACK linked in
    release = write_executor_runner(tmp_path / "executor_runner", logging=False)     # ET_LOG compiled out

The file is :mod:`edgebench.testing.executor_runner_double` with a shebang naming this interpreter (which has
executorch) and ``BACKENDS``, ``LOGGING`` and ``FAIL`` baked in; see that module for the format it prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from . import executor_runner_double as double
from .tool_writer import write_tool

__all__ = ["FAILURES", "write_executor_runner"]

FAILURES = (None, "alloc", "missing-op")


def write_executor_runner(path: str | os.PathLike[str], *, backends: Sequence[str] = ("XnnpackBackend",),
                          logging: bool = True, fail: str | None = None) -> Path:
    """Write the double to ``path`` (mode 755) with its behaviour baked in; returns the path."""
    if fail not in FAILURES:
        raise ValueError(f"fail must be one of {FAILURES}, not {fail!r}")
    return write_tool(double.__file__, path, {"BACKENDS": tuple(backends), "LOGGING": bool(logging), "FAIL": fail},
                      "write_executor_runner")

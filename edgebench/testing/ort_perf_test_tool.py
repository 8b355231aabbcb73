"""Write an executable copy of the ``onnxruntime_perf_test`` test double.

    binary = write_ort_perf_test(tmp_path / "onnxruntime_perf_test")             # behaves like the real tool
    failing = write_ort_perf_test(tmp_path / "onnxruntime_perf_test", fail="alloc")  # warm-up runs out of memory

The file is the stand-alone script :mod:`edgebench.testing.ort_perf_test_double` (see it for the flags, the
ONNX Runtime 1.20.1 format it prints and its failure wordings) with a shebang naming this interpreter, which has
onnxruntime and numpy, and ``FAIL`` baked in.  At run time ``EDGEBENCH_DOUBLE_FAIL`` overrides ``fail``.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import ort_perf_test_double as double
from .tool_writer import write_tool

__all__ = ["FAILURES", "write_ort_perf_test"]

FAILURES = (None, "alloc", "unsupported-op")


def write_ort_perf_test(path: str | os.PathLike[str], fail: str | None = None, debug_node_io: bool = False,
                        interpreter: str | None = None) -> Path:
    """Write the double to ``path`` (mode 755) with ``fail`` and ``debug_node_io`` (a build that can dump outputs)
    baked in, its first line naming ``interpreter`` (default: this one; ``/usr/bin/python3`` for the arm64
    userland, whose onnxruntime is the aarch64 build); returns the path."""
    if fail not in FAILURES:
        raise ValueError(f"fail must be one of {FAILURES}, not {fail!r}")
    return write_tool(double.__file__, path, {"FAIL": fail, "DEBUG_NODE_IO": bool(debug_node_io)},
                      "write_ort_perf_test", interpreter)

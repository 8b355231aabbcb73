"""Write an executable copy of the ``onnxruntime_perf_test`` test double.

    binary = write_ort_perf_test(tmp_path / "onnxruntime_perf_test")             # behaves like the real tool
    failing = write_ort_perf_test(tmp_path / "onnxruntime_perf_test", fail="alloc")  # warm-up runs out of memory

The file is the stand-alone script :mod:`edgebench.testing.ort_perf_test_double` (see it for the flags, the
ONNX Runtime 1.20.1 format it prints and its failure wordings) with a shebang naming this interpreter, which has
onnxruntime and numpy, and ``FAIL`` baked in.  At run time ``EDGEBENCH_DOUBLE_FAIL`` overrides ``fail``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

from . import ort_perf_test_double as double

__all__ = ["FAILURES", "write_ort_perf_test"]

FAILURES = (None, "alloc")
_MARKER = re.compile(r"^FAIL = .*$", re.M)
_DEBUG = re.compile(r"^DEBUG_NODE_IO = .*$", re.M)


def write_ort_perf_test(path: str | os.PathLike[str], fail: str | None = None, debug_node_io: bool = False) -> Path:
    """Write the double to ``path`` (mode 755) with ``#!<sys.executable>``, ``fail`` and ``debug_node_io`` (a build
    that can dump outputs) baked in; returns the path."""
    if fail not in FAILURES:
        raise ValueError(f"fail must be one of {FAILURES}, not {fail!r}")
    source = Path(double.__file__).read_text(encoding="utf-8")
    baked = source.split("\n", 1)[1] if source.startswith("#!") else source
    for marker, line in ((_MARKER, f"FAIL = {fail!r}  # baked by write_ort_perf_test"),
                         (_DEBUG, f"DEBUG_NODE_IO = {bool(debug_node_io)!r}  # baked by write_ort_perf_test")):
        baked, count = marker.subn(lambda _: line, baked, count=1)
        if count != 1:  # pragma: no cover - guards the double's own layout
            raise RuntimeError(f"ort_perf_test_double.py lost its {marker.pattern} line")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"#!{sys.executable}\n{baked}", encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return target

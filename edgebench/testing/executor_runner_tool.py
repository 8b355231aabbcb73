"""Write an executable copy of the ``executor_runner`` test double with its behaviour baked in.

    runner = write_executor_runner(tmp_path / "executor_runner")                   # XNNPACK build, logging on
    portable = write_executor_runner(tmp_path / "executor_runner", backends=())     # no XNNPACK linked in
    release = write_executor_runner(tmp_path / "executor_runner", logging=False)     # ET_LOG compiled out

The file is :mod:`edgebench.testing.executor_runner_double` with a shebang naming this interpreter (which has
executorch) and ``BACKENDS``, ``LOGGING`` and ``FAIL`` baked in; see that module for the format it prints.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Sequence

from . import executor_runner_double as double

__all__ = ["FAILURES", "write_executor_runner"]

FAILURES = (None, "alloc", "missing-op")


def write_executor_runner(path: str | os.PathLike[str], *, backends: Sequence[str] = ("XnnpackBackend",),
                          logging: bool = True, fail: str | None = None) -> Path:
    """Write the double to ``path`` (mode 755) with its behaviour baked in; returns the path."""
    if fail not in FAILURES:
        raise ValueError(f"fail must be one of {FAILURES}, not {fail!r}")
    source = Path(double.__file__).read_text(encoding="utf-8")
    body = source.split("\n", 1)[1] if source.startswith("#!") else source
    for name, value in (("BACKENDS", tuple(backends)), ("LOGGING", bool(logging)), ("FAIL", fail)):
        body, count = re.subn(rf"^{name} = .*$", lambda _: f"{name} = {value!r}  # baked by write_executor_runner",
                              body, count=1, flags=re.M)
        if count != 1:  # pragma: no cover - guards the double's own layout
            raise RuntimeError(f"executor_runner_double.py lost its {name} line")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return target

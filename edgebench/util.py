"""Small helpers shared by the core and plugins."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from typing import Iterator


@contextlib.contextmanager
def quiet_output() -> Iterator[list[str]]:
    """Silence the chatter exporters write straight to fd 1/2 (C++ logs included).

    Yields a list that receives the captured text (split in lines) when the block exits, so a
    caller can attach its tail to an error message.
    """
    captured: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    python_level = io.StringIO()  # for writers holding sys.stdout/stderr objects rather than fds
    logging.disable(logging.WARNING)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(python_level), contextlib.redirect_stderr(python_level):
                yield captured
        finally:
            logging.disable(logging.NOTSET)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.extend(sink.read().decode(errors="replace").splitlines())
            captured.extend(python_level.getvalue().splitlines())


def last_line(text: str, default: str = "") -> str:
    """The last non-empty line of some output: usually the error that matters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else default

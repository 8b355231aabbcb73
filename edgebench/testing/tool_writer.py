"""Write a stand-alone test double as an executable with its behaviour baked into module constants."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any


def write_tool(source: str | os.PathLike[str], path: str | os.PathLike[str], values: dict[str, Any],
               writer: str, interpreter: str | None = None) -> Path:
    """Copy the double at ``source`` to ``path`` (mode 755), its first line naming ``interpreter`` (default:
    this one, which has the runtimes: a stock virtual phone has no python3 on its PATH) and each
    ``NAME = ...`` line of ``values`` replaced by the value's repr."""
    text = Path(source).read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith("#!") else text
    for name, value in values.items():
        body, count = re.subn(rf"^{name} = .*$", lambda _: f"{name} = {value!r}  # baked by {writer}", body,
                              count=1, flags=re.M)
        if count != 1:  # pragma: no cover - guards the double's own layout
            raise RuntimeError(f"{Path(source).name} lost its {name} line")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"#!{interpreter or sys.executable}\n{body}", encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return target

"""Helpers shared by test modules (import as `from helpers import ...`)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

def make_plugin_dist(root: Path, name: str, source: str, entry_name: str | None = None) -> Path:
    """Install a one-module plugin the way pip would: a module plus a dist-info with its entry point.

    Put ``root`` on PYTHONPATH (subprocess) and importlib.metadata finds it like any installed package.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-0.0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[edgebench]\n{entry_name or name} = {name}\n")
    return root


def subprocess_env(extra_path: Path | None = None, **env: str) -> dict[str, str]:
    out = dict(os.environ)
    if extra_path is not None:
        out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), out.get("PYTHONPATH", "")]))
    out.update(env)
    return out


EDGEBENCH = [sys.executable, "-m", "edgebench"]

"""Write an executable copy of the ``benchmark_model`` test double with its behaviour baked in.

    binary = write_benchmark_model(tmp_path / "benchmark_model", generation="tf2.9",
                                   delegates={"gpu": "partial:5"}, drift=2)

The file is a stand-alone Python script (its first line names this interpreter) that a test passes to
edgebench as the ``benchmark_model`` binary to push; see :mod:`edgebench.testing.benchmark_model_double`
for what each behaviour key does and which real tool generation each wording comes from.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from . import benchmark_model_double as double

__all__ = ["BEHAVIOUR_KEYS", "DELEGATE_BEHAVIOURS", "GENERATIONS", "write_benchmark_model"]

GENERATIONS = double.GENERATIONS
BEHAVIOUR_KEYS = ("generation", "delegates", "drift", "fail")
DELEGATE_BEHAVIOURS = ("full", "partial:K", "fail-apply", "absent", "prepare-fail")
FAILURES = (None, "crash", "cannot-open")
_MARKER = re.compile(r'^BEHAVIOUR_JSON = .*$', re.M)


def _check(behaviour: dict[str, Any]) -> None:
    unknown = set(behaviour) - set(BEHAVIOUR_KEYS)
    if unknown:
        raise ValueError(f"unknown benchmark_model behaviour keys {sorted(unknown)} (known: {BEHAVIOUR_KEYS})")
    generation = behaviour.get("generation", double.DEFAULT_BEHAVIOUR["generation"])
    if generation not in GENERATIONS:
        raise ValueError(f"generation {generation!r} is not one of {GENERATIONS}")
    for accelerator, value in (behaviour.get("delegates") or {}).items():
        if accelerator not in ("nnapi", "gpu"):
            raise ValueError(f"delegates: unknown accelerator {accelerator!r} (nnapi, gpu)")
        ok = value in ("full", "fail-apply", "absent", "prepare-fail") or bool(re.fullmatch(r"partial:\d+", str(value)))
        if not ok:
            raise ValueError(f"delegates[{accelerator!r}]: {value!r} is not one of {DELEGATE_BEHAVIOURS}")
    drift = behaviour.get("drift", 0)
    if not isinstance(drift, int) or isinstance(drift, bool) or drift < 0:
        raise ValueError(f"drift must be a non-negative integer, not {drift!r}")
    if behaviour.get("fail") not in FAILURES:
        raise ValueError(f"fail must be one of {FAILURES}, not {behaviour.get('fail')!r}")


def write_benchmark_model(path: str | os.PathLike[str], interpreter: str | None = None, **behaviour: Any) -> Path:
    """Write the double to ``path`` (mode 755) with ``behaviour`` baked in; returns the path.

    Keys: ``generation`` ("tf1.15", "tf2.4", "tf2.9", "tf2.18" [default], "litert"), ``delegates``
    (``{"nnapi": B, "gpu": B}``, B one of "full" [default], "partial:K", "fail-apply", "absent",
    "prepare-fail"), ``drift`` (int, default 0) and ``fail`` (None, "crash", "cannot-open"). ``interpreter``:
    the Python its first line names (default: this one).
    """
    _check(behaviour)
    source = Path(double.__file__).read_text(encoding="utf-8")
    blob = json.dumps(behaviour, sort_keys=True)
    baked, count = _MARKER.subn(lambda _: f"BEHAVIOUR_JSON = {blob!r}  # baked by write_benchmark_model", source,
                                count=1)
    if count != 1:  # pragma: no cover - guards the double's own layout
        raise RuntimeError("benchmark_model_double.py lost its BEHAVIOUR_JSON line")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if baked.startswith("#!"):  # this interpreter by path: a stock (virtual) phone has no python3 on its PATH;
        # an arm64 userland names its own (``interpreter="/usr/bin/python3"``)
        baked = f"#!{interpreter or sys.executable}\n" + baked.split("\n", 1)[1]
    target.write_text(baked, encoding="utf-8")
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return target

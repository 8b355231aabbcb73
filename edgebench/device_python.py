"""Is there a Python on the device that can run edgebench's runner, and with which runtimes?

A stock Android phone has none; Termux or a rooted image may have one, with or without numpy and
the runtime a backend needs. Backends with a native tool (onnxruntime_perf_test, ExecuTorch's
executor_runner) measure through it when this probe says the runner cannot: detected by running
the profile's interpreter once per session, never assumed from the transport.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import DeviceError

MARK = "@@EB-PYTHON@@"
# Python 3.8+: what the runner needs. Prints one JSON line; never imports the runtimes (slow under
# emulation, and find_spec says enough: the runner's own import error is one line if it is broken).
_CODE = (
    "import sys, json, importlib.util as u\n"
    "out = {'version': list(sys.version_info[:3]), 'executable': sys.executable}\n"
    "try:\n"
    "    import numpy\n"
    "    out['numpy'] = numpy.__version__\n"
    "except Exception as exc:\n"
    "    out['numpy_error'] = '%s: %s' % (type(exc).__name__, exc)\n"
    "out['modules'] = {m: u.find_spec(m) is not None for m in sys.argv[1:]}\n"
    "print('" + MARK + "' + json.dumps(out))\n"
)
# one line on the command line: a serial console would take a newline inside quotes for a continuation prompt
_PROBE = f"exec({_CODE!r})"
MIN_VERSION = (3, 8)


@dataclass
class PythonProbe:
    """What the device's interpreter can do (``usable`` False: the runner cannot run there at all)."""

    interpreter: str
    usable: bool
    reason: str | None = None  # why it is not usable, in one line
    version: str | None = None
    numpy: str | None = None
    modules: dict[str, bool] = field(default_factory=dict)

    def can_import(self, module: str) -> bool:
        return self.usable and bool(self.modules.get(module))

    def why_not(self, module: str) -> str:
        """One line: why the runner cannot use ``module`` on the device."""
        if not self.usable:
            return self.reason or f"{self.interpreter} is not usable"
        return f"{self.interpreter} ({self.version}) has no module {module!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"interpreter": self.interpreter, "usable": self.usable, "reason": self.reason,
                "version": self.version, "numpy": self.numpy, "modules": dict(self.modules)}


def probe(transport: Any, python: str, modules: Iterable[str], timeout: float = 120.0) -> PythonProbe:
    """Run ``python`` on the device with the probe script; a missing or broken interpreter is an answer."""
    modules = sorted(set(m for m in modules if m))
    try:
        proc = transport.run([python, "-c", _PROBE, *modules], timeout=timeout)
    except DeviceError as exc:  # e.g. the local transport cannot even start it
        return PythonProbe(python, False, reason=_short(str(exc)))
    text = (proc.stdout or "") + "\n" + (proc.stderr or "")
    line = next((ln for ln in (proc.stdout or "").splitlines() if ln.startswith(MARK)), None)
    if line is None:
        last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")
        if proc.returncode == 127 or "not found" in last:
            why = f"no {python} on the device ({last or 'exit status 127'})"
        else:
            why = f"{python} did not run the probe (exit status {proc.returncode}: {last or 'no output'})"
        return PythonProbe(python, False, reason=_short(why))
    try:
        found = json.loads(line[len(MARK):])
    except ValueError:
        return PythonProbe(python, False, reason=f"{python} printed an unreadable probe answer")
    version = tuple(found.get("version") or ())
    dotted = ".".join(str(v) for v in version)
    result = PythonProbe(python, True, version=dotted, numpy=found.get("numpy"),
                         modules={str(k): bool(v) for k, v in (found.get("modules") or {}).items()})
    if version < MIN_VERSION:
        result.usable, result.reason = False, f"{python} is Python {dotted}; the runner needs 3.8 or newer"
    elif not result.numpy:
        result.usable = False
        result.reason = f"{python} ({dotted}) cannot import numpy ({found.get('numpy_error', 'missing')})"
    return result


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."

"""The host itself: commands run as child processes, files are copied."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ..api import CommandResult, Transport
from ..errors import DeviceError, DeviceTimeout


class LocalTransport(Transport):
    name = "local"

    def __init__(self, profile):  # type: ignore[no-untyped-def]
        super().__init__(profile)
        self._dirs: list[str] = []

    def run(self, argv: Sequence[str], *, timeout: float, cwd: str | None = None) -> CommandResult:
        argv = [sys.executable if a == "{python}" else str(a) for a in argv]
        try:
            proc = subprocess.run(
                argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise DeviceTimeout(
                f"device {self.profile.name!r}: {Path(argv[0]).name} ran past its {timeout:g} s timeout"
            ) from None
        except OSError as exc:
            raise DeviceError(f"device {self.profile.name!r}: cannot start {argv[0]!r}: {exc.strerror}") from None
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)

    def push(self, local: Path, remote: str) -> None:
        shutil.copyfile(local, remote)

    def pull(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    def make_workdir(self) -> str:
        path = tempfile.mkdtemp(prefix="edgebench-")
        self._dirs.append(path)
        return path

    def remove(self, remote: str) -> None:
        if os.path.isdir(remote):
            shutil.rmtree(remote, ignore_errors=True)
        elif os.path.exists(remote):
            os.unlink(remote)

    def close(self) -> None:
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._dirs.clear()

    def info(self) -> dict[str, Any]:
        return host_info()


def host_info() -> dict[str, Any]:
    """Describe this machine: CPU, cores, memory, OS, Python."""
    import psutil

    info: dict[str, Any] = {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
    }
    freq = psutil.cpu_freq()
    if freq:
        info["cpu_max_mhz"] = round(freq.max or freq.current)
    governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor.exists():
        info["governor"] = governor.read_text().strip()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

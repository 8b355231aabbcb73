"""The probe a farm runs before each lease: is the device reachable, has it room, is it cool enough.

Limits come from the profile's ``[health]`` table (``min_free_mb``, ``max_temp_c``), with defaults a
phone or a Pi meets when it is fit to measure. A figure the device does not report (no thermal zone,
a ``df`` whose output is not POSIX) is recorded as unknown, not failed: only a figure past its limit,
or a device that does not answer, fails the probe.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..devices import DeviceProfile
from ..errors import EdgebenchError

DEFAULT_MIN_FREE_MB = 100.0
DEFAULT_MAX_TEMP_C = 80.0


@dataclass
class Probe:
    ok: bool
    reason: str = ""  # why it failed: one line
    at: float = field(default_factory=time.time)
    free_mb: float | None = None
    temp_c: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def storage_dir(profile: DeviceProfile) -> str:
    """Where the device's work dirs go: the profile's ``workdir`` option, else the platform's temp dir."""
    default = "/data/local/tmp" if profile.transport == "adb" else "/tmp"
    return str(profile.options.get("workdir") or default)


def parse_df(text: str) -> float | None:
    """Free MB from ``df -Pk DIR`` (POSIX: header, then ``fs blocks used avail cap mount``); None if unreadable."""
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2 or len(lines[-1]) < 4:
        return None
    try:
        return int(lines[-1][3]) / 1024
    except ValueError:
        return None


def probe(transport: Any, profile: DeviceProfile, timeout: float = 20.0) -> Probe:
    """Run the three checks on an open transport; never raises for a device problem."""
    started = time.monotonic()
    health = profile.health or {}
    min_free = float(health.get("min_free_mb", DEFAULT_MIN_FREE_MB))
    max_temp = float(health.get("max_temp_c", DEFAULT_MAX_TEMP_C))
    result = Probe(ok=False)
    try:
        answer = transport.run(["echo", "edgebench-probe"], timeout=timeout)
        if answer.returncode != 0 or "edgebench-probe" not in answer.stdout:
            result.reason = f"unreachable: the device did not answer a probe (exit status {answer.returncode})"
            return result
        df = transport.run(["df", "-Pk", storage_dir(profile)], timeout=timeout)
        result.free_mb = parse_df(df.stdout) if df.returncode == 0 else None
        if result.free_mb is not None and result.free_mb < min_free:
            result.reason = (f"low storage: {result.free_mb:.0f} MB free in {storage_dir(profile)}, "
                             f"the profile's [health] min_free_mb is {min_free:g}")
            return result
        if profile.thermal:
            from ..thermal import hottest, read_temperatures

            result.temp_c = hottest(read_temperatures(transport, timeout=timeout))
            if result.temp_c is not None and result.temp_c >= max_temp:
                result.reason = (f"too hot: {result.temp_c:.1f} °C, the profile's [health] max_temp_c is "
                                 f"{max_temp:g}")
                return result
        result.ok = True
        return result
    except EdgebenchError as exc:
        result.reason = f"unreachable: {exc}"
        return result
    finally:
        result.seconds = time.monotonic() - started

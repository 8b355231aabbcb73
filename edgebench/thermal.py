"""Device temperatures through any transport: read the thermal zones, wait for a cool-down.

The runner records the zones before and after each measurement on its own; these helpers let
the harness read them between measurements and hold off until the device is cool again.
Zone names follow the runner's: ``thermal_zone0:cpu-thermal``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .api import Transport

# one shell loop for every device: toybox (Android), busybox and coreutils all have cat
_SCRIPT = ('for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] || continue; '
           't=$(cat "$z/temp" 2>/dev/null) || continue; n=$(cat "$z/type" 2>/dev/null); '
           'printf "%s %s %s\\n" "${z##*/}" "$t" "${n:-unknown}"; done')

# zones reading outside this range are switched off or broken (Android shows -273000 for those)
_PLAUSIBLE = (-40.0, 150.0)


def parse_zones(text: str) -> dict[str, float]:
    """``thermal_zone0 48500 cpu-thermal`` lines -> {'thermal_zone0:cpu-thermal': 48.5}."""
    temps: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 2:
            continue
        try:
            value = int(parts[1]) / 1000.0  # the kernel reports millidegrees
        except ValueError:
            continue
        if _PLAUSIBLE[0] <= value <= _PLAUSIBLE[1]:
            kind = parts[2].strip() if len(parts) > 2 else "unknown"
            temps[f"{parts[0]}:{kind}"] = value
    return temps


def read_temperatures(transport: Transport, timeout: float = 20.0) -> dict[str, float]:
    """Every readable thermal zone of the device in °C; empty where there are none or the read failed."""
    result = transport.run(["sh", "-c", _SCRIPT], timeout=timeout)
    return parse_zones(result.stdout) if result.returncode == 0 else {}


def hottest(temps: dict[str, float], zones: Iterable[str] | None = None) -> float | None:
    """The highest reading, over the zones whose name contains one of ``zones`` (all if None)."""
    wanted = list(zones or [])
    values = [v for k, v in temps.items() if not wanted or any(w in k for w in wanted)]
    return max(values) if values else None


def is_hot(temps: dict[str, float], threshold_c: float, zones: Iterable[str] | None = None) -> bool:
    peak = hottest(temps, zones)
    return peak is not None and peak >= threshold_c


@dataclass
class CoolDown:
    """What :func:`cool_down` saw: stored with a result so a hot run can be flagged.

    ``reached`` is None when no thermal zone could be read: the temperature is unknown, which is
    not the same as cool (a failed read never lets a hot device pass)."""

    threshold_c: float
    reached: bool | None
    waited_s: float
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)
    readings: int = 0

    @property
    def hot(self) -> bool:
        """True when the device was still above the threshold when waiting stopped."""
        return self.reached is False

    def to_dict(self) -> dict[str, Any]:
        return {"threshold_c": self.threshold_c, "reached": self.reached, "waited_s": round(self.waited_s, 2),
                "start": self.start, "end": self.end, "readings": self.readings}


def cool_down(transport: Transport, threshold_c: float, timeout_s: float, *, poll_s: float = 2.0,
              zones: Iterable[str] | None = None,
              sleep: Callable[[float], None] = time.sleep) -> CoolDown:
    """Poll the thermal zones until the hottest is below ``threshold_c`` or ``timeout_s`` passes.

    A device without readable zones (or whose read fails) is *unknown*: ``reached`` is None and
    nothing is waited for. Never raises for heat: the caller decides whether a run that started
    hot is kept and flagged.
    """
    zones = list(zones or [])
    started = time.monotonic()
    first = temps = read_temperatures(transport)
    readings = 1
    while True:
        peak = hottest(temps, zones)
        if peak is None:
            return CoolDown(threshold_c, None, time.monotonic() - started, first, temps, readings)
        if peak < threshold_c:
            return CoolDown(threshold_c, True, time.monotonic() - started, first, temps, readings)
        if time.monotonic() - started >= timeout_s:
            return CoolDown(threshold_c, False, time.monotonic() - started, first, temps, readings)
        sleep(max(0.0, min(poll_s, timeout_s - (time.monotonic() - started))))
        temps = read_temperatures(transport)
        readings += 1

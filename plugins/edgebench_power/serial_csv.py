"""A microcontroller with an INA219 / INA226 printing one reading per line, e.g. ``t,mV,mA``.

``serial-csv:PORT[,baud=115200,columns=ms:mV:mA,scale=1,rate=...]``: ``columns`` names each
comma-separated field by its unit, ``:``-separated: time in ``ms``, ``us`` or ``s`` (the
microcontroller's own clock), voltage in ``V`` / ``mV``, current in ``A`` / ``mA`` / ``uA``, power in ``W``
/ ``mW``, ``-`` to skip a field. Power is the power column, else voltage x current; ``scale`` multiplies
it (a shunt other than the sketch assumes). Lines that do not parse (a sketch's banner, a header) are
skipped.

The microcontroller's clock started at its own time: each line's host arrival time minus its time
stamp is the clock offset plus the line's delay, so the smallest difference seen is the offset (no
line arrives early) and the median excess is the stamping's uncertainty. Without a time column the
host's arrival time is used.
"""

from __future__ import annotations

import statistics
import time

from edgebench.api import PowerMeter, PowerTrace, Transport
from edgebench.energy import float_option
from edgebench.errors import PowerMeterError

from .host_sampler import HostSampler, Reading

SCALES = {"ms": ("t", 1e-3), "us": ("t", 1e-6), "s": ("t", 1.0), "V": ("v", 1.0), "mV": ("v", 1e-3),
          "A": ("i", 1.0), "mA": ("i", 1e-3), "uA": ("i", 1e-6), "W": ("p", 1.0), "mW": ("p", 1e-3), "-": ("", 0.0)}


def parse_columns(text: str) -> list[tuple[str, float]]:
    """``"ms:mV:mA"`` -> [("t", 1e-3), ("v", 1e-3), ("i", 1e-3)]; an unknown unit is one line."""
    out = []
    for unit in text.split(":"):
        if unit.strip() not in SCALES:
            raise PowerMeterError(f"power meter serial-csv: column unit {unit!r} is not one of {', '.join(SCALES)}")
        out.append(SCALES[unit.strip()])
    kinds = [k for k, _ in out if k]
    if "p" not in kinds and not {"v", "i"} <= set(kinds):
        raise PowerMeterError("power meter serial-csv: columns need a power column, or voltage and current")
    return out


def parse_line(line: str, columns: list[tuple[str, float]]) -> tuple[float | None, float] | None:
    """(device time in s or None, watts) of one line, or None when it is not a reading."""
    fields = line.strip().split(",")
    if len(fields) < len(columns):
        return None
    values: dict[str, float] = {}
    try:
        for (kind, scale), field in zip(columns, fields):
            if kind:
                values[kind] = float(field) * scale
    except ValueError:
        return None
    watts = values["p"] if "p" in values else values["v"] * values["i"]
    return values.get("t"), watts


class SerialCsvMeter(PowerMeter):
    description = "INA219/INA226 on a microcontroller printing CSV lines over serial"

    def __init__(self, options: dict[str, str], transport: Transport) -> None:
        super().__init__(options, transport)
        self.port = options.get("port", "")
        self.baud = int(float_option(options, "baud", 115200, self.name))
        self.scale = float_option(options, "scale", 1.0, self.name)
        self.columns = parse_columns(options.get("columns", "ms:mV:mA"))
        self._serial = None
        self._raw: list[tuple[float, float | None, float]] = []  # (host arrival, device time, watts)
        self._sampler: HostSampler | None = None

    def check(self) -> None:
        if not self.port:
            raise PowerMeterError("power meter serial-csv needs its serial port: --power serial-csv:/dev/ttyACM0")
        self._open()
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if parse_line(self._readline(), self.columns) is not None:
                    return
            raise PowerMeterError(f"power meter serial-csv on {self.port}: no line matched columns "
                                  f"{self.options.get('columns', 'ms:mV:mA')} in 3 s")
        finally:
            self._close()

    def _open(self) -> None:
        import serial

        try:
            self._serial = serial.Serial(self.port, self.baud, timeout=1.0)
        except (serial.SerialException, OSError) as exc:
            raise PowerMeterError(f"power meter serial-csv: cannot open {self.port} ({exc})") from None
        self._serial.reset_input_buffer()  # lines queued while nobody listened carry stale times

    def _close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001
                pass

    def _readline(self) -> str:
        assert self._serial is not None
        raw = self._serial.readline()
        if not raw:
            raise PowerMeterError(f"no line from {self.port} in 1 s")
        return raw.decode("ascii", errors="replace")

    def _sample(self) -> list[Reading]:
        line = self._readline()
        arrived = time.time()
        parsed = parse_line(line, self.columns)
        if parsed is not None:
            self._raw.append((arrived, parsed[0], parsed[1] * self.scale))
        return []  # placed on the host's clock at stop, once the offset is known

    def start(self) -> None:
        self._raw = []
        self._open()
        self._sampler = HostSampler(self._sample, 1000.0)  # paced by the lines themselves
        self._sampler.start()

    def stop(self) -> PowerTrace:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.stop()
        self._close()
        raw = list(self._raw)
        units = {"columns": self.options.get("columns", "ms:mV:mA")}
        if raw and all(t is not None for _, t, _ in raw):
            lags = [arrived - t for arrived, t, _ in raw]  # type: ignore[operator]
            offset = min(lags)
            samples = [(t + offset, w) for _, t, w in raw]  # type: ignore[operator]
            clock_error = statistics.median(lag - offset for lag in lags)
            units["clock"] = "microcontroller's, aligned by the earliest arrival"
        else:
            samples = [(arrived, w) for arrived, _, w in raw]
            clock_error = 0.0
            units["clock"] = "host arrival"
        return PowerTrace(samples, clock="host", units=units, resolution_w=None,
                          error=sampler.error if sampler else "never started", clock_error_s=clock_error)

"""An Android phone's fuel gauge: ``current_now`` and ``voltage_now`` sampled on the phone itself.

A shell loop on the phone reads ``/sys/class/power_supply/battery/{current_now,voltage_now}`` and
``/proc/uptime`` (shell built-ins only, so the loop costs one ``sleep`` per sample) into a file that is
pulled afterwards: adb's own latency never enters the time stamps, and the runner stamps its timed
region with the same uptime.

Vendors differ: current in µA (most) or mA, voltage in µV or mV, and the current is negative while
discharging on some phones and positive on others. All are detected from the values and recorded in
the result. A phone on its charger is refused: the current then includes the charger's.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from edgebench.api import PowerMeter, PowerTrace, Transport
from edgebench.energy import float_option
from edgebench.errors import EdgebenchError, PowerMeterError

SUPPLY = "/sys/class/power_supply/battery"
# $1 supply folder, $2 output file, $3 stop file, $4 sleep between samples, $5 most samples (a lost host
# never leaves it running for good)
LOOP = """i=0
while [ ! -e "$3" ] && [ "$i" -lt "$5" ]; do
  read up rest < /proc/uptime
  read c < "$1/current_now"
  read v < "$1/voltage_now"
  echo "$up $c $v"
  i=$((i + 1))
  sleep "$4"
done > "$2"
"""


def detect_units(currents: list[float], voltages: list[float]) -> tuple[float, float, float, dict[str, str]]:
    """(amps per current step, volts per voltage step, sign that makes discharge positive, what was found)."""
    v = statistics.median(abs(x) for x in voltages)
    volt_step, volt_unit = (1e-6, "uV") if v > 1e5 else (1e-3, "mV") if v > 100 else (1.0, "V")
    c = statistics.median(abs(x) for x in currents)
    # a phone that is awake draws tens of mA or more: 10,000+ can only be µA
    amp_step, amp_unit = (1e-6, "uA") if c > 10_000 else (1e-3, "mA")
    negative = sum(x < 0 for x in currents) > len(currents) / 2
    units = {"current": amp_unit, "voltage": volt_unit,
             "discharge_sign": "negative" if negative else "positive"}
    return amp_step, volt_step, (-1.0 if negative else 1.0), units


def parse_samples(text: str) -> list[tuple[float, float, float]]:
    """(uptime s, raw current, raw voltage) per line; a half-written last line is dropped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            try:
                out.append((float(parts[0]), float(parts[1]), float(parts[2])))
            except ValueError:
                continue
    return out


class BatteryMeter(PowerMeter):
    """``battery[:rate=20]``: the phone's own fuel gauge, sampled at ``rate`` Hz on the phone."""

    description = "Android fuel gauge (/sys/class/power_supply/battery), sampled on the phone"

    def __init__(self, options: dict[str, str], transport: Transport) -> None:
        super().__init__(options, transport)
        self.rate = float_option(options, "rate", 20.0, self.name)
        self.supply = options.get("supply", options.get("port", SUPPLY))
        self.workdir = ""

    def _sh(self, script: str, *args: str, timeout: float = 30) -> str:
        out = self.transport.run(["sh", "-c", script, "edgebench-battery", *args], timeout=timeout)
        if out.returncode != 0:
            raise PowerMeterError(f"battery meter: {(out.stderr or out.stdout).strip() or 'exit status %d' % out.returncode}")
        return out.stdout

    def check(self) -> None:
        try:
            text = self._sh('cat "$1/status" && cat "$1/current_now" "$1/voltage_now" >/dev/null', self.supply)
        except PowerMeterError as exc:
            raise PowerMeterError(f"battery meter: no readable fuel gauge at {self.supply} on this device "
                                  f"({str(exc).removeprefix('battery meter: ')}); give another with supply=PATH") from None
        status = text.strip().splitlines()[0] if text.strip() else "Unknown"
        if status != "Discharging":
            raise PowerMeterError(
                f"battery meter refused: the phone reports {status!r}, not 'Discharging' (on a charger its "
                "current includes the charger's): unplug it and use adb over Wi-Fi (adb tcpip)")

    def start(self) -> None:
        self.workdir = self.transport.make_workdir()
        script = Path(tempfile.mkdtemp(prefix="edgebench-power-")) / "sample.sh"
        script.write_text(LOOP)
        self.transport.push(script, f"{self.workdir}/sample.sh")
        script.unlink()
        script.parent.rmdir()
        w = self.workdir
        most = str(int(self.rate * 3600))  # an hour at most
        # detached, every stream closed: the command returns at once and the loop outlives it
        self._sh('nohup sh "$1" "$2" "$3" "$4" "$5" "$6" </dev/null >/dev/null 2>&1 &',
                 f"{w}/sample.sh", self.supply, f"{w}/samples.txt", f"{w}/stop", f"{1.0 / self.rate:.3f}", most)

    def stop(self) -> PowerTrace:
        w, self.workdir = self.workdir, ""
        if not w:
            return PowerTrace([], clock="device-uptime", error="the sampling loop was never started")
        try:
            # ask the loop to end, give it two periods to see the stop file, then take its file
            text = self._sh('touch "$1/stop"; sleep "$2"; cat "$1/samples.txt"', w, f"{max(0.3, 2.0 / self.rate):.2f}")
        except EdgebenchError as exc:
            return PowerTrace([], clock="device-uptime", error=str(exc))
        finally:
            try:
                self.transport.remove(w)
            except EdgebenchError:
                pass
        rows = parse_samples(text)
        if not rows:
            return PowerTrace([], clock="device-uptime", error="the sampling loop wrote nothing")
        amp_step, volt_step, sign, units = detect_units([c for _, c, _ in rows], [v for _, _, v in rows])
        samples = [(t, sign * c * amp_step * v * volt_step) for t, c, v in rows]
        mean_v = statistics.fmean(v * volt_step for _, _, v in rows)
        return PowerTrace(samples, clock="device-uptime", units=units, resolution_w=amp_step * mean_v)

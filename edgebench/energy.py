"""Energy per inference from a power meter's samples: idle window, alignment, the figure and its interval.

    energy per inference = (mean power during the timed runs - mean idle power) x median latency

Both means come from the same meter, so its offset (the board's own draw, a USB meter's shunt) cancels;
what is left is the power the inferences added. The 95 % interval combines the spread of both
windows' samples (Welch), each window's standard error widened to its batch means' where neighbouring
samples are correlated (a meter that averages internally).

The timed region comes from the runner itself (its start and end on the device's wall clock and
uptime). A meter on the host's clock is aligned with the device by probing the device's clock over the
transport: the probe with the shortest round trip wins and half of it is the alignment error.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from .api import PowerMeter, PowerTrace, Transport
from .errors import EdgebenchError, PowerMeterError

IDLE_S = 2.0  # the default idle window: long enough for 20+ samples at 10 Hz
SETTLE_S = 0.3  # samples this soon after start are left out of the idle window (a meter's first reads)
MIN_SAMPLES = 3


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"um25c:/dev/rfcomm0,rate=10"`` -> ``("um25c", {"port": "/dev/rfcomm0", "rate": "10"})``."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise PowerMeterError(f"--power {spec!r}: give a meter name, e.g. battery or um25c:/dev/rfcomm0")
    options: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in rest.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq:
            if i:
                raise PowerMeterError(f"--power {spec!r}: {part!r} is not KEY=VALUE (only the first option may be a bare port)")
            key, value = "port", part
        options[key.strip()] = value.strip()
    return name, options


def make_meter(spec: str, transport: Transport) -> PowerMeter:
    """The registered meter ``spec`` names, made for this run's transport (an unknown name: one line)."""
    from .plugins import power_meters

    name, options = parse_spec(spec)
    return power_meters.get(name)(options, transport)


def float_option(options: dict[str, str], key: str, default: float, meter: str) -> float:
    """A numeric meter option, or one line saying which is wrong."""
    try:
        value = float(options.get(key, default))
    except ValueError:
        raise PowerMeterError(f"power meter {meter}: {key}={options[key]!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise PowerMeterError(f"power meter {meter}: {key} must be a positive number, not {options[key]!r}")
    return value


@dataclass
class ClockOffset:
    """Device wall clock minus host clock (s), and how sure: half the shortest probe's round trip."""

    offset_s: float
    error_s: float


def probe_clock(transport: Transport, tries: int = 3) -> ClockOffset:
    """The device's ``date +%s.%N`` against this machine's clock, over the transport (best of ``tries``)."""
    best: ClockOffset | None = None
    for _ in range(tries):
        sent = time.time()
        out = transport.run(["date", "+%s.%N"], timeout=30)
        back = time.time()
        text = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        try:
            device = float(text)
            resolution = 0.0
        except ValueError:  # a date without %N (busybox prints it literally): whole seconds only
            try:
                device, resolution = float(text.split(".")[0]) + 0.5, 0.5
            except ValueError:
                raise PowerMeterError(f"cannot read the device's clock for power alignment: {text!r}") from None
        found = ClockOffset(device - (sent + back) / 2, (back - sent) / 2 + resolution)
        if best is None or found.error_s < best.error_s:
            best = found
    assert best is not None
    return best


def device_uptime(transport: Transport) -> float | None:
    """The device's /proc/uptime now (None when it cannot be read)."""
    try:
        out = transport.run(["cat", "/proc/uptime"], timeout=30)
        return float(out.stdout.split()[0]) if out.returncode == 0 else None
    except (EdgebenchError, ValueError, IndexError):
        return None


def window_on(trace: PowerTrace, window: dict[str, Any], offset: ClockOffset | None) -> tuple[float, float, float]:
    """The runner's timed region on the meter's clock: (start, end, alignment error in s)."""
    if trace.clock == "device-uptime":
        if window.get("uptime") is None:
            raise PowerMeterError("the runner could not read the device's uptime: the meter's samples cannot be aligned")
        start, end = window["uptime"]
        # /proc/uptime has 10 ms steps; the runner and the sampler read the same clock (a native tool's region
        # carries its own placement error)
        return start, end, 0.01 + float(window.get("error_s") or 0.0)
    if offset is None:
        raise PowerMeterError("no clock offset was measured for a meter on the host's clock")
    start, end = window["wall"]
    return start - offset.offset_s, end - offset.offset_s, offset.error_s + float(window.get("error_s") or 0.0)


def _mean_se(values: list[float], batches: int = 10) -> tuple[float, float]:
    """The mean and its standard error: the larger of the plain one and the batch-means one (neighbouring
    samples of a meter that averages are correlated, which the plain one ignores)."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    size = len(values) // batches
    if size >= 2:
        means = [statistics.fmean(values[i * size:(i + 1) * size]) for i in range(batches)]
        se = max(se, statistics.stdev(means) / math.sqrt(batches))
    return mean, se


def energy_per_inference(trace: PowerTrace, idle: tuple[float, float], timed: tuple[float, float],
                         timings_ms: list[float], alignment_error_s: float) -> dict[str, Any]:
    """The figure, its 95 % interval and everything needed to check it later (raw samples included)."""
    idle_w = [w for t, w in trace.samples if idle[0] <= t <= idle[1]]
    # a sample stamped within the alignment error of an edge may belong to either side: leave it out
    edge = min(alignment_error_s, (timed[1] - timed[0]) / 4)
    run_w = [w for t, w in trace.samples if timed[0] + edge <= t <= timed[1] - edge]
    if len(idle_w) < MIN_SAMPLES:
        raise PowerMeterError(f"only {len(idle_w)} power samples in the idle window: sample faster or idle longer")
    if len(run_w) < MIN_SAMPLES:
        raise PowerMeterError(f"only {len(run_w)} power samples during the timed runs "
                              f"({timed[1] - timed[0]:.2f} s): use more runs (--min-time) or a faster meter")
    idle_mean, idle_se = _mean_se(idle_w)
    run_mean, run_se = _mean_se(run_w)
    excess = run_mean - idle_mean
    se = math.sqrt(idle_se ** 2 + run_se ** 2)
    median_s = statistics.median(timings_ms) / 1000.0
    times = [t for t, _ in trace.samples]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    t0 = times[0] if times else 0.0
    return {
        "mj_per_frame": excess * median_s * 1000.0,
        "ci_low_mj": (excess - 1.96 * se) * median_s * 1000.0,
        "ci_high_mj": (excess + 1.96 * se) * median_s * 1000.0,
        "idle_w": idle_mean, "run_w": run_mean, "excess_w": excess,
        "n_idle": len(idle_w), "n_run": len(run_w), "median_ms": median_s * 1000.0,
        "rate_hz": (len(times) - 1) / span if span > 0 else None,
        "resolution_w": trace.resolution_w, "units": trace.units, "clock": trace.clock,
        "alignment_error_s": alignment_error_s,
        "idle_window": [idle[0] - t0, idle[1] - t0], "timed_window": [timed[0] - t0, timed[1] - t0],
        "t0": t0,  # samples are stored as (seconds after t0, watts) on the meter's clock
        "samples": [[round(t - t0, 4), round(w, 6)] for t, w in trace.samples],
    }


def describe(energy: dict[str, Any]) -> str:
    """One line for the run's output: the figure, its interval and what the meter was found to report."""
    units = ", ".join(f"{k} {v}" for k, v in energy.get("units", {}).items() if k != "note")
    note = energy.get("units", {}).get("note")
    return (f"energy {energy['mj_per_frame']:.3g} mJ/frame (95% {energy['ci_low_mj']:.3g}-{energy['ci_high_mj']:.3g}) "
            f"from {energy.get('meter', 'the meter')} ({units}; {energy['n_run']} samples at "
            f"{energy['rate_hz'] or 0:.0f} Hz, aligned within {energy['alignment_error_s'] * 1000:.0f} ms)"
            + (f"; {note}" if note else ""))


class MeterLost(PowerMeterError):
    """The meter stopped answering mid-run: the result keeps its latency and stores no energy."""


class PowerSession:
    """One meter around one measurement: start, idle window, the runner, then the figure.

        power = PowerSession(meter, transport)
        power.begin()                     # starts sampling, waits out the idle window
        result = <run the runner>
        energy = power.finish(result)     # MeterLost / PowerMeterError: no energy, say why
    """

    def __init__(self, meter: PowerMeter, transport: Transport, idle_s: float = IDLE_S):
        self.meter, self.transport, self.idle_s = meter, transport, idle_s
        self.started = self.launched = 0.0
        self.launched_uptime: float | None = None

    def begin(self) -> None:
        self.meter.start()
        self.started = time.time()
        time.sleep(self.idle_s)  # nothing of ours runs on the device meanwhile: this is "idle"
        self.launched = time.time()
        # the same moment on the device's uptime: pushing the job's files comes after it, and a phone's
        # adbd working on a push is not idle
        self.launched_uptime = device_uptime(self.transport)

    def abort(self) -> None:
        """The measurement failed: stop sampling, keep nothing."""
        try:
            self.meter.stop()
        except Exception:  # noqa: BLE001  the measurement's own error is the one to report
            pass

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        trace = self.meter.stop()
        name = self.meter.name
        if trace.error:
            raise MeterLost(f"power meter {name} stopped answering mid-run ({trace.error}): "
                            "latency kept, no energy stored")
        window = result.get("window")
        if not window:
            raise PowerMeterError(f"power meter {name}: the measurement reported no timed window "
                                  "(a tool that printed no loop time): no energy stored")
        offset = probe_clock(self.transport) if trace.clock == "host" else None
        start, end, error = window_on(trace, window, offset)
        error += trace.clock_error_s
        if trace.clock == "host":
            idle = (self.started + SETTLE_S, self.launched)
        else:  # the device's clock: idle until shortly before the runner started
            first = trace.samples[0][0] if trace.samples else 0.0
            ends = [t for t in (self.launched_uptime, window["started"].get("uptime")) if t is not None]
            idle = (first + SETTLE_S, min(ends or [start]) - 0.1)
        # a native tool that prints only its summary: its median (or mean) stands for the runs
        timings = result.get("timings_ms") or [(result.get("summary") or {}).get("median_ms")]
        if timings[0] is None:
            raise PowerMeterError(f"power meter {name}: the measurement has no latency to turn power into energy")
        energy = energy_per_inference(trace, idle, (start, end), timings, error)
        energy["meter"] = name
        energy["runner_window"] = window  # the runner's own stamps (device wall clock and uptime), for audits
        if offset is not None:
            energy["clock_offset_s"] = offset.offset_s
        return energy

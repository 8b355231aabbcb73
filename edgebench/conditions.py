"""The conditions a result was measured under, read before and after it, and judged.

One shell script reads everything in one round trip (a phone over adb costs ~50 ms a command):
uptime, load average, the ``cpu`` line of /proc/stat, every process's CPU time, governor and
frequency per CPU, thermal zones, and on Android the battery, the screen and the OS thermal status
(``dumpsys``). :func:`judge` turns two snapshots (and, when the on-device runner measured its own
timed loop, the runner's ``load`` block) into the record stored with a result: how many cores other
processes used while the result was timed, which ones, and what the device looked like.

All figures from /proc are in USER_HZ ticks (100 a second on every Linux and Android kernel in
practice); /proc/stat's first line sums all CPUs, so a delta over a window divided by the window
length is a number of cores.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Iterable

from .api import Transport
from .errors import DeviceTimeout
from .stats import Warning_
from .thermal import _SCRIPT as _THERMAL_SCRIPT
from .thermal import parse_zones

BUSY_CORES = 0.10  # others using 10 % of one core during the timed runs is enough to move a median
MIN_WINDOW_S = 0.5  # below this, a few clock ticks of rounding look like a busy machine: not judged
BATTERY_LOW = 20  # Android's battery saver and OEM low-battery policies start around here
THERMAL_THROTTLING = 2  # "moderate": the first status at which Android itself throttles apps
THERMAL_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")
# the benchmark itself, wherever its process id is unknown (a native tool started by a shell)
BENCHMARK_NAMES = ("benchmark_model*",)
TOP = 3

# Section markers: a line that is only "@@name". Nothing the kernel or dumpsys prints starts so.
_MARK = "@@"
# ${v:--} prints "-" for a file that is missing or unreadable, so each cpu line keeps 4 fields
_CPUFREQ = ('for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$c/cpufreq" ] || continue; '
            'm=; f=; g=; { read -r m < "$c/cpufreq/cpuinfo_max_freq"; } 2>/dev/null; '
            '{ read -r f < "$c/cpufreq/scaling_cur_freq"; } 2>/dev/null; '
            '{ read -r g < "$c/cpufreq/scaling_governor"; } 2>/dev/null; '
            'printf "%s %s %s %s\\n" "${c##*/}" "${m:--}" "${f:--}" "${g:--}"; done')
# power: only the lines that tell the screen state (the whole dump is tens of kB);
# thermalservice: the status lines and the "Current temperatures from HAL" block (not the cache)
_ANDROID = (
    'if [ "${EB_ANDROID:-0}" = 1 ]; then '
    'printf "@@battery\\n"; dumpsys battery 2>/dev/null; '
    'printf "@@power\\n"; dumpsys power 2>/dev/null | while IFS= read -r l; do case $l in '
    '*mWakefulness=*|*"Display Power: state="*|*mScreenOn=*|*mHoldingDisplaySuspendBlocker=*) '
    'printf "%s\\n" "$l";; esac; done; '
    'printf "@@thermalservice\\n"; h=0; dumpsys thermalservice 2>/dev/null | while IFS= read -r l; do '
    'case $l in "IsStatusOverride:"*|"Thermal Status:"*) printf "%s\\n" "$l"; h=0;; '
    '"Current temperatures from HAL:"*) printf "%s\\n" "$l"; h=1;; '
    '*"Temperature{"*) [ "$h" = 1 ] && printf "%s\\n" "$l";; *) h=0;; esac; done; '
    'fi')


def _counters(suffix: str) -> str:
    """uptime, the /proc/stat cpu line and every process's stat: read together, one instant."""
    return (f'printf "@@uptime{suffix}\\n"; cat /proc/uptime 2>/dev/null; '
            f'printf "@@stat{suffix}\\n"; {{ read -r s < /proc/stat && printf "%s\\n" "$s"; }} 2>/dev/null; '
            f'printf "@@procs{suffix}\\n"; cat /proc/[0-9]*/stat 2>/dev/null; ')


# The counters come twice, first and last: a window between two snapshots runs from the end of the
# first script to the start of the second, so neither script's own work (dumpsys makes
# system_server busy for tens of ms) counts as another process's load. cat of many /proc files goes
# on past a process that exited meanwhile; stderr is dropped everywhere (a missing file is normal:
# no cpufreq in a container, no thermal zones on a VM, no dumpsys off Android).
SNAPSHOT_SCRIPT = (
    _counters("") +
    'printf "@@loadavg\\n"; cat /proc/loadavg 2>/dev/null; '
    'printf "@@cpufreq\\n"; ' + _CPUFREQ + '; '
    'printf "@@thermal\\n"; ' + _THERMAL_SCRIPT + '; ' + _ANDROID + '; ' +
    _counters("_end") +
    'printf "@@end\\n"')

_STAT_BUSY = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (guest is inside user)
_STAT_IDLE = (3, 4)  # idle iowait
_TEMPERATURE = re.compile(r"Temperature\{mValue=([^,]*), mType=(-?\d+), mName=(.*), mStatus=(-?\d+)\}")
_NOT_TEMPERATURES = {6, 7, 8}  # BCL voltage / current / percentage share the Temperature record
_SCREEN = {"ON": "on", "OFF": "off", "DOZE": "doze", "DOZE_SUSPEND": "doze", "VR": "on", "ON_SUSPEND": "on",
           "Awake": "on", "Dreaming": "on", "Asleep": "off", "Dozing": "doze"}


# -- parsing --------------------------------------------------------------------------------------
def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(_MARK) and " " not in line.strip():
            current = sections.setdefault(line.strip()[len(_MARK):], [])
        elif current is not None:
            current.append(line)
    return sections


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_stat_cpu(line: str) -> dict[str, int] | None:
    """The ``cpu`` line of /proc/stat -> {"busy", "total"} in ticks (older kernels: fewer fields)."""
    parts = line.split()
    if len(parts) < 5 or parts[0] != "cpu":
        return None
    values = [_int(p) for p in parts[1:]]
    if any(v is None for v in values):
        return None
    field = lambda i: values[i] if i < len(values) else 0  # noqa: E731  (steal etc. are newer)
    busy = sum(field(i) for i in _STAT_BUSY)
    return {"busy": busy, "total": busy + sum(field(i) for i in _STAT_IDLE)}


def parse_proc_stat(line: str) -> tuple[int, dict[str, Any]] | None:
    """One /proc/<pid>/stat line -> (pid, {"comm", "jiffies", "start"}); None if it is not one.

    comm may hold spaces and parentheses ("(sd-pam)", "Web Content"): it runs from the first '('
    to the last ')', and the numeric fields are counted after that.
    """
    open_at, close_at = line.find("("), line.rfind(")")
    if open_at < 1 or close_at < open_at:
        return None
    pid = _int(line[:open_at].strip())
    rest = line[close_at + 1:].split()
    # rest[0] is field 3 (state): utime, stime and starttime are fields 14, 15 and 22
    if pid is None or len(rest) < 20:
        return None
    utime, stime, start = _int(rest[11]), _int(rest[12]), _int(rest[19])
    if utime is None or stime is None:
        return None
    return pid, {"comm": line[open_at + 1:close_at], "jiffies": utime + stime, "start": start}


def _parse_cpus(lines: Iterable[str]) -> dict[int, dict[str, Any]]:
    cpus: dict[int, dict[str, Any]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[0].startswith("cpu") or _int(parts[0][3:]) is None:
            continue
        num = lambda s: _int(s) if s != "-" else None  # noqa: E731
        cpus[int(parts[0][3:])] = {"max_khz": num(parts[1]), "cur_khz": num(parts[2]),
                                    "governor": parts[3] if parts[3] != "-" else None}
    return cpus


def _key_values(lines: Iterable[str], sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, found, value = line.strip().partition(sep)
        if found and key not in out:  # Samsung repeats some keys in lower case further down
            out[key.strip()] = value.strip()
    return out


def parse_battery(text: str) -> dict[str, Any]:
    """``dumpsys battery`` -> battery_level (%), charging, plugged, battery_temp_c."""
    values = _key_values(text.splitlines(), ":")
    out: dict[str, Any] = {}
    level, scale = _int(values.get("level", "")), _int(values.get("scale", "")) or 100
    if level is not None:
        out["battery_level"] = round(level * 100 / scale) if scale > 0 else level
    sources = [name for name, key in (("ac", "AC powered"), ("usb", "USB powered"),
                                      ("wireless", "Wireless powered"), ("dock", "Dock powered"))
               if values.get(key) == "true"]
    if any(key in values for key in ("AC powered", "USB powered", "Wireless powered")):
        out["plugged"] = sources[0] if sources else "none"
    status = _int(values.get("status", ""))
    if status is not None:  # BatteryManager: 2 charging, 3 discharging, 4 not charging, 5 full
        out["charging"] = status == 2
    elif "plugged" in out:
        out["charging"] = out["plugged"] != "none"
    temp = _int(values.get("temperature", ""))
    if temp is not None:
        out["battery_temp_c"] = temp / 10.0  # tenths of a degree
    if "(UPDATES STOPPED" in text:  # `dumpsys battery set ...` froze these values: not the hardware's
        out["battery_overridden"] = True
    return out


def parse_power(text: str) -> dict[str, Any]:
    """``dumpsys power`` -> screen: on | off | doze (display state first: it is what the panel does)."""
    values = _key_values(text.splitlines(), "=")
    display = re.search(r"Display Power: state=(\w+)", text)
    state = display.group(1) if display else values.get("mWakefulness")
    if state in _SCREEN:
        return {"screen": _SCREEN[state]}
    for key in ("mScreenOn", "mHoldingDisplaySuspendBlocker"):  # Android 4.x; last resort
        if values.get(key) in ("true", "false"):
            return {"screen": "on" if values[key] == "true" else "off"}
    return {}


def parse_thermalservice(text: str) -> dict[str, Any]:
    """``dumpsys thermalservice`` -> thermal_status (0 none … 6 shutdown) and the HAL's temperatures."""
    out: dict[str, Any] = {}
    status = re.search(r"^Thermal Status: (\d+)", text, re.M)
    if status:
        out["thermal_status"] = int(status.group(1))
    override = re.search(r"^IsStatusOverride: (true|false)", text, re.M)
    if override and override.group(1) == "true":  # `cmd thermalservice override-status` forced it
        out["thermal_status_overridden"] = True
    # the cached block repeats older readings: read only the block the HAL answered just now
    block = text.split("Current temperatures from HAL:", 1)
    temps: dict[str, float] = {}
    if len(block) == 2:
        for line in block[1].splitlines():
            match = _TEMPERATURE.search(line)
            if not match:
                if line.strip():
                    break  # the next block ("Current cooling devices from HAL:")
                continue
            value, kind = _float(match.group(1)), int(match.group(2))
            if value is not None and value == value and kind not in _NOT_TEMPERATURES:
                temps[match.group(3)] = value
    if temps:
        out["hal_temps"] = temps
    return out


def _parse_counters(sections: dict[str, list[str]], suffix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    uptime = sections.get("uptime" + suffix)
    if uptime and _float(uptime[0].split(" ")[0]) is not None:
        out["uptime_s"] = float(uptime[0].split(" ")[0])
    stat = next((parse_stat_cpu(line) for line in sections.get("stat" + suffix, []) if line.startswith("cpu ")),
                None)
    if stat:
        out["cpu_jiffies"] = stat
    procs = dict(filter(None, (parse_proc_stat(line) for line in sections.get("procs" + suffix, []))))
    if procs:
        out["procs"] = procs
    return out


def parse_snapshot(text: str) -> dict[str, Any]:
    """The output of :data:`SNAPSHOT_SCRIPT` -> a snapshot dict; missing parts are left out.

    Keys: uptime_s, loadavg [1, 5, 15 min], cpu_jiffies {busy, total}, cpus {n: {max_khz, cur_khz,
    governor}}, temps {zone: °C}, procs {pid: {comm, jiffies, start}}, end (uptime_s, cpu_jiffies
    and procs read again as the script finished) and on Android android {battery_level, charging,
    plugged, battery_temp_c, screen, thermal_status, hal_temps}.

    Never raises: a line that does not parse is skipped, so an odd kernel or vendor loses a figure,
    not the benchmark.
    """
    sections = _sections(text)
    snap: dict[str, Any] = _parse_counters(sections, "")
    end = _parse_counters(sections, "_end")
    if end:
        snap["end"] = end
    load = (sections.get("loadavg") or [""])[0].split()
    if len(load) >= 3 and all(_float(v) is not None for v in load[:3]):
        snap["loadavg"] = [float(v) for v in load[:3]]
    cpus = _parse_cpus(sections.get("cpufreq", []))
    if cpus:
        snap["cpus"] = cpus
    temps = parse_zones("\n".join(sections.get("thermal", [])))
    if temps:
        snap["temps"] = temps
    android: dict[str, Any] = {}
    for name, parse in (("battery", parse_battery), ("power", parse_power), ("thermalservice", parse_thermalservice)):
        if name in sections:
            android.update(parse("\n".join(sections[name])))
    if android:
        snap["android"] = android
    return snap


def snapshot(transport: Transport, android: bool = False, timeout: float = 30.0) -> dict[str, Any]:
    """Read the device's conditions now, in one command; ``{"error": ...}`` when it failed.

    A device that lacks a file just lacks that figure. A timeout (a hung dumpsys) is not fatal
    either: conditions are context for a result, not the result.
    """
    script = ("EB_ANDROID=1; " if android else "") + SNAPSHOT_SCRIPT
    try:
        result = transport.run(["sh", "-c", script], timeout=timeout)
    except DeviceTimeout as exc:
        return {"error": str(exc)}
    snap = parse_snapshot(result.stdout)
    if result.returncode != 0 or "@@end" not in result.stdout:
        snap["error"] = f"snapshot script exited {result.returncode}: {result.stderr.strip()[:200]}"
    return snap


# -- judging --------------------------------------------------------------------------------------
def clusters_of(cpus: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Group CPUs with the same cpuinfo_max_freq (big.LITTLE clusters), slowest cluster first."""
    groups: dict[Any, list[int]] = {}
    for cpu in sorted(cpus):
        groups.setdefault(cpus[cpu].get("max_khz"), []).append(cpu)
    ordered = sorted(groups, key=lambda k: (k is None, k or 0))  # CPUs without a max last
    return [{"cpus": groups[k], "max_khz": k,
             "governors": sorted({cpus[c]["governor"] for c in groups[k] if cpus[c].get("governor")}),
             "cur_khz": [cpus[c].get("cur_khz") for c in groups[k]]} for k in ordered]


def summary(snap: dict[str, Any]) -> dict[str, Any]:
    """What a snapshot keeps in the stored record: no per-process table, no raw counters."""
    out: dict[str, Any] = {}
    for key in ("loadavg", "temps", "android", "error"):
        if snap.get(key):
            out[key] = snap[key]
    if snap.get("cpus"):
        out["clusters"] = clusters_of(snap["cpus"])
    return out


def _is_benchmark(pid: int, comm: str, own_pid: int | None) -> bool:
    # a python runner is ours only by its pid (the runner reports it): another python is a real load
    return pid == own_pid or any(fnmatch.fnmatch(comm, pattern) for pattern in BENCHMARK_NAMES)


def _proc_deltas(before: dict[str, Any], after: dict[str, Any], hz: int) -> dict[int, tuple[str, float]]:
    """CPU seconds each process used between two snapshots (pid reuse and new processes handled)."""
    old, new = before.get("procs") or {}, after.get("procs") or {}
    since = (before.get("uptime_s") or 0.0) * hz  # processes started after this are new
    deltas: dict[int, tuple[str, float]] = {}
    for pid, proc in new.items():
        prev = old.get(pid)
        if prev is not None and prev.get("start") == proc.get("start"):
            used = proc["jiffies"] - prev["jiffies"]
        elif proc.get("start") is not None and since and proc["start"] >= since:
            used = proc["jiffies"]  # born inside the window: all its time is inside too
        else:
            continue
        if used > 0:
            deltas[pid] = (proc["comm"], used / hz)
    return deltas


def _busiest(items: Iterable[dict[str, Any]], own_pid: int | None) -> list[dict[str, Any]]:
    others = [i for i in items if not _is_benchmark(int(i.get("pid", -1)), str(i.get("comm", "")), own_pid)]
    return sorted(others, key=lambda i: -float(i.get("cpu_s", 0)))[:TOP]


def judge(before: dict[str, Any], after: dict[str, Any], own_cpu_s: float | None = None,
          own_pid: int | None = None, window: dict[str, Any] | None = None, hz: int = 100) -> dict[str, Any]:
    """The conditions record stored with a result.

    ``window`` is the runner's own ``load`` block for its timed loop: measured on the device around
    exactly the timed runs, it is preferred to the snapshots' delta (which also spans warm-up,
    quality and the transfers). Without it, others = the /proc/stat busy delta minus the
    benchmark's own CPU time (``own_cpu_s``, else what the process table shows for ``own_pid`` and
    processes named like the benchmark), floored at 0, over the uptime delta.
    """
    record: dict[str, Any] = {"before": summary(before), "after": summary(after)}
    if window and window.get("window_s"):
        window_s = float(window["window_s"])
        others_cores = window.get("others_cores")
        busiest = _busiest(window.get("busiest") or [], own_pid)
        source = "runner"
    else:
        window_s, others_cores, busiest = _snapshot_load(before, after, own_cpu_s, own_pid, hz)
        source = "snapshots"
    judged = others_cores is not None and window_s is not None and window_s >= MIN_WINDOW_S
    record.update({"window_s": round(window_s, 3) if window_s else window_s,
                   "others_cores": others_cores, "busiest": busiest,
                   # /proc/stat counts in clock ticks (10 ms): a shorter window cannot tell 10 % of a core
                   "busy": (others_cores >= BUSY_CORES) if judged else None, "source": source})
    return record


def _snapshot_load(before: dict[str, Any], after: dict[str, Any], own_cpu_s: float | None,
                   own_pid: int | None, hz: int) -> tuple[float | None, float | None, list[dict[str, Any]]]:
    before = before.get("end") or before  # the window starts where the first script stopped reading
    if before.get("uptime_s") is None or after.get("uptime_s") is None:
        return None, None, []
    window_s = after["uptime_s"] - before["uptime_s"]
    if window_s <= 0:
        return None, None, []
    deltas = _proc_deltas(before, after, hz)
    others_cores = None
    if own_cpu_s is not None and before.get("cpu_jiffies") and after.get("cpu_jiffies"):
        busy_s = (after["cpu_jiffies"]["busy"] - before["cpu_jiffies"]["busy"]) / hz
        others_cores = round(max(0.0, busy_s - own_cpu_s) / window_s, 3)
    elif deltas:
        # a native tool has exited by the second snapshot, so /proc/stat's total would count its own
        # time as others': add up the processes alive at both snapshots instead (short-lived others
        # are missed; the tool never counts against itself)
        others = sum(cpu for pid, (comm, cpu) in deltas.items() if not _is_benchmark(pid, comm, own_pid))
        others_cores = round(others / window_s, 3)
    items = [{"pid": pid, "comm": comm, "cpu_s": round(cpu, 3), "cores": round(cpu / window_s, 3)}
             for pid, (comm, cpu) in deltas.items()]
    return window_s, others_cores, _busiest(items, own_pid)


# -- warnings -------------------------------------------------------------------------------------
def busy_warning(conditions: dict[str, Any]) -> Warning_ | None:
    """``busy`` when other processes used >= BUSY_CORES cores while the result was timed."""
    cores = conditions.get("others_cores")
    if not conditions.get("busy") or cores is None:
        return None
    named = ", ".join(f"{b['comm']} {b['cores']:.2f}" for b in conditions.get("busiest") or [])
    # the runner measured exactly its timed loop; two snapshots span the whole measurement
    during = "the timed runs" if conditions.get("source") == "runner" else "the measurement"
    return Warning_(
        "busy", f"other processes used {cores:.2f} cores during {during}"
        + (f" (busiest: {named})" if named else ""),
        "close the apps or jobs named (or wait for them: a phone is busy for minutes after boot or "
        "an update) and rerun")


def _both(conditions: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [conditions[side][key] for side in ("before", "after") if (conditions.get(side) or {}).get(key)]


def conditions_warnings(conditions: dict[str, Any]) -> list[Warning_]:
    """Every warning the conditions call for: busy, battery-low, thermal-status, powersave."""
    warnings = [w for w in (busy_warning(conditions),) if w]
    androids = _both(conditions, "android")
    low = [a for a in androids if a.get("battery_level") is not None and a["battery_level"] < BATTERY_LOW
           and not a.get("charging")]
    if low:
        warnings.append(Warning_(
            "battery-low", f"battery at {min(a['battery_level'] for a in low)} % and not charging",
            "charge the device first: battery saver and low-battery policies lower the clocks"))
    status = max((a["thermal_status"] for a in androids if isinstance(a.get("thermal_status"), int)), default=None)
    if status is not None and status >= THERMAL_THROTTLING:
        name = THERMAL_NAMES[status] if 0 <= status < len(THERMAL_NAMES) else str(status)
        warnings.append(Warning_(
            "thermal-status", f"Android thermal status was {name} ({status}): the OS throttles",
            "let the phone cool (--cool-to), take it out of its case and off the charger, then rerun"))
    slow = sorted({c for clusters in _both(conditions, "clusters") for cl in clusters
                   if "powersave" in cl.get("governors", []) for c in cl["cpus"]})
    if slow:
        warnings.append(Warning_(
            "powersave", f"CPUs {','.join(map(str, slow))} ran the powersave governor (lowest clock)",
            "turn battery saver off, or set the governor to schedutil or performance (root) and rerun"))
    return warnings


__all__ = ["SNAPSHOT_SCRIPT", "BUSY_CORES", "parse_snapshot", "snapshot", "clusters_of", "summary", "judge",
           "busy_warning", "conditions_warnings", "parse_battery", "parse_power", "parse_thermalservice",
           "parse_stat_cpu", "parse_proc_stat"]
